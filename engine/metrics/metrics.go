// Package metrics turns the actor system's event stream into supervisor and
// sandbox metrics — spokes started, crashes, restarts, worker kills by
// cause, steps and their latencies, ISC messages, permission decisions, LLM
// calls and tokens — kept both as a Prometheus registry and as a Snapshot
// for the TUI's panel.
package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isolategpt/isolategpt/actors/msg"
)

var buckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 120}

// StatusFunc asks the hub what is alive (engine.Engine.Status).
type StatusFunc func(ctx context.Context) (*msg.StatusReply, error)

// Collector counts what the event stream reports. It is safe for
// concurrent use.
type Collector struct {
	system *actor.ActorSystem
	sub    *eventstream.Subscription
	status StatusFunc
	reg    *prometheus.Registry

	spokesStarted  *prometheus.CounterVec
	spokesLive     prometheus.Gauge
	crashes        *prometheus.CounterVec
	restarts       *prometheus.CounterVec
	workersStarted *prometheus.CounterVec
	kills          *prometheus.CounterVec
	steps          *prometheus.CounterVec
	stepSeconds    *prometheus.HistogramVec
	execSeconds    *prometheus.HistogramVec
	isc            *prometheus.CounterVec
	permissions    *prometheus.CounterVec
	queries        *prometheus.CounterVec
	llmCalls       prometheus.Counter
	llmTokens      *prometheus.CounterVec

	mu     sync.Mutex
	snap   Snapshot
	spokes map[string]string // spoke id → app, while it lives
	// routed is when the hub routed each step in flight to its spoke, by
	// query id and step id.
	routed map[string]time.Time
}

// Snapshot is the collector's counters at one moment, for display.
type Snapshot struct {
	SpokesStarted  int
	SpokesLive     int
	Crashes        int
	Restarts       int
	WorkersStarted int
	// Kills counts dead workers by cause (timeout, output, memory, seccomp,
	// crash).
	Kills       map[string]int
	Steps       map[string]int // by status
	ISC         map[string]int // by status
	Permissions map[string]int // by decision
	Queries     int
	Failed      int
	LLMCalls    int
	Tokens      msg.Usage
	// Latency is per app.function (or "hub" for operators).
	Latency map[string]Latency
	// InFlight is calls in progress per app, from the hub.
	InFlight map[string]int
	// Mailboxes is messages waiting per mailbox, from the hub: "hub",
	// "permission", and "spoke <app>" (summed over sessions).
	Mailboxes map[string]int
	// HubWait is how long the hub took to answer a status request: the
	// time a message waits in its mailbox, plus a little.
	HubWait time.Duration
	// StepsQueued is how many steps wait for a worker now (the pool at
	// its cap), StepsQueuedTotal how many ever did; MaxWorkers and
	// MaxWorkersPerUser are the caps. From the hub.
	StepsQueued, StepsQueuedTotal int
	MaxWorkers, MaxWorkersPerUser int
	// QueriesQueued is how many queries wait to be admitted now (at most
	// MaxQueries run at once), QueriesQueuedTotal how many ever did.
	QueriesQueued, QueriesQueuedTotal, MaxQueries int
}

// Latency summarises one function's step durations. A step's duration
// runs from when it could start, so it includes the wait for the user's
// permission; Exec runs from when the hub routed it to its spoke.
type Latency struct {
	Count int
	Total time.Duration
	Last  time.Duration
	Max   time.Duration
	// ExecCount and ExecTotal cover the steps routed to a spoke.
	ExecCount int
	ExecTotal time.Duration
}

// ExecMean is the average time from routing to the end of the step.
func (l Latency) ExecMean() time.Duration {
	if l.ExecCount == 0 {
		return 0
	}
	return l.ExecTotal / time.Duration(l.ExecCount)
}

// Mean is the average duration.
func (l Latency) Mean() time.Duration {
	if l.Count == 0 {
		return 0
	}
	return l.Total / time.Duration(l.Count)
}

// New starts counting system's events. status may be nil; with it, scrapes
// and snapshots also report calls in flight per spoke. Call Close to stop.
func New(system *actor.ActorSystem, status StatusFunc) *Collector {
	c := &Collector{system: system, status: status, reg: prometheus.NewRegistry(), spokes: map[string]string{}, routed: map[string]time.Time{}}
	c.snap = Snapshot{Kills: map[string]int{}, Steps: map[string]int{}, ISC: map[string]int{}, Permissions: map[string]int{}, Latency: map[string]Latency{}}
	c.spokesStarted = c.counterVec("spokes_started_total", "Spokes the hub started.", "app")
	c.spokesLive = c.gauge("spokes_live", "Spokes alive now.")
	c.crashes = c.counterVec("spoke_crashes_total", "Spoke failures handled by the hub's supervisor.", "app")
	c.restarts = c.counterVec("actor_restarts_total", "Actors restarted by their supervisor.", "actor", "app")
	c.workersStarted = c.counterVec("workers_started_total", "App worker processes started.", "app")
	c.kills = c.counterVec("worker_kills_total", "App workers that died, by cause (timeout, output, memory, seccomp, crash).", "app", "cause")
	c.steps = c.counterVec("steps_total", "Plan steps finished, by app and status.", "app", "status")
	c.stepSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "isolategpt", Name: "step_duration_seconds", Help: "Plan step latency from when the step could start, permission wait included, by app.",
		Buckets: buckets,
	}, []string{"app"})
	c.execSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "isolategpt", Name: "step_exec_seconds", Help: "Plan step latency from the hub routing it to its spoke to its checked result, by app.",
		Buckets: buckets,
	}, []string{"app"})
	c.reg.MustRegister(c.stepSeconds, c.execSeconds)
	c.isc = c.counterVec("isc_messages_total", "Inter-spoke requests the hub handled, by status.", "status")
	c.permissions = c.counterVec("permission_decisions_total", "Permission decisions, by kind, decision and whether the user was asked.", "kind", "decision", "asked")
	c.queries = c.counterVec("queries_total", "Queries answered, by outcome.", "outcome")
	c.llmCalls = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "isolategpt", Name: "llm_calls_total", Help: "Model calls made for queries (planner and spokes' agent loops)."})
	c.reg.MustRegister(c.llmCalls)
	c.llmTokens = c.counterVec("llm_tokens_total", "Model tokens, by type (prompt, completion).", "type")
	c.reg.MustRegister(&inflight{c: c})
	// Filter inside the handler: SubscribeWithPredicate races with Publish.
	c.sub = system.EventStream.Subscribe(c.observe)
	return c
}

func (c *Collector) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "isolategpt", Name: name, Help: help}, labels)
	c.reg.MustRegister(v)
	return v
}

func (c *Collector) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "isolategpt", Name: name, Help: help})
	c.reg.MustRegister(g)
	return g
}

// Close stops counting.
func (c *Collector) Close() {
	c.system.EventStream.Unsubscribe(c.sub)
}

// Registry is the Prometheus registry the metrics are in.
func (c *Collector) Registry() *prometheus.Registry { return c.reg }

// observe runs on the publisher's goroutine (often an actor's): it only
// counts, under a short lock, and never blocks.
func (c *Collector) observe(ev any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e := ev.(type) {
	case *msg.SpokeStarted:
		c.spokes[e.Spoke] = e.App
		c.snap.SpokesStarted++
		c.spokesStarted.WithLabelValues(e.App).Inc()
		c.setLive()
	case *msg.SpokeStopped:
		delete(c.spokes, e.Spoke)
		c.setLive()
	case *msg.SpokeCrashed:
		c.snap.Crashes++
		c.crashes.WithLabelValues(e.App).Inc()
	case *actor.SupervisorEvent:
		if e.Directive != actor.RestartDirective || e.Child == nil {
			return
		}
		c.snap.Restarts++
		c.restarts.WithLabelValues(actorKind(e.Child.Id), c.spokes[e.Child.Id]).Inc()
	case *msg.WorkerChanged:
		switch e.State {
		case msg.WorkerStarting:
			c.snap.WorkersStarted++
			c.workersStarted.WithLabelValues(e.App).Inc()
		case msg.WorkerKilled:
			cause := e.Cause
			if cause == "" {
				cause = "crash"
			}
			c.snap.Kills[cause]++
			c.kills.WithLabelValues(e.App, cause).Inc()
		}
	case *msg.StepStarted:
		c.routed[e.QueryID+"/"+e.StepID] = time.Now()
	case *msg.StepFinished:
		o := e.Outcome
		routed, wasRouted := c.routed[e.QueryID+"/"+o.Step]
		delete(c.routed, e.QueryID+"/"+o.Step)
		app, name := o.App, o.App+"."+o.Function
		if o.Kind == "op" || app == "" {
			app, name = "hub", "hub "+o.Step
		}
		c.snap.Steps[o.Status]++
		c.steps.WithLabelValues(app, o.Status).Inc()
		if o.Status != msg.StatusSkipped {
			c.stepSeconds.WithLabelValues(app).Observe(o.Duration.Seconds())
			l := c.snap.Latency[name]
			l.Count++
			l.Total += o.Duration
			l.Last = o.Duration
			l.Max = max(l.Max, o.Duration)
			if wasRouted {
				d := time.Since(routed)
				l.ExecCount++
				l.ExecTotal += d
				c.execSeconds.WithLabelValues(app).Observe(d.Seconds())
			}
			c.snap.Latency[name] = l
		}
	case *msg.ISCRouted:
		c.snap.ISC[e.Status]++
		c.isc.WithLabelValues(e.Status).Inc()
	case *msg.PermissionDecided:
		c.snap.Permissions[string(e.Decision)]++
		asked := "false"
		if e.Asked {
			asked = "true"
		}
		c.permissions.WithLabelValues(string(e.Prompt.Kind), string(e.Decision), asked).Inc()
	case *msg.QueryAnswered:
		// A step that never reported its end (its query stopped) is
		// forgotten with its query.
		for k := range c.routed {
			if strings.HasPrefix(k, e.QueryID+"/") {
				delete(c.routed, k)
			}
		}
		c.snap.Queries++
		outcome := "answered"
		if e.Err != "" {
			c.snap.Failed++
			outcome = "failed"
		}
		c.queries.WithLabelValues(outcome).Inc()
		c.snap.LLMCalls += e.Usage.Calls
		c.snap.Tokens = c.snap.Tokens.Add(e.Usage)
		c.llmCalls.Add(float64(e.Usage.Calls))
		c.llmTokens.WithLabelValues("prompt").Add(float64(e.Usage.PromptTokens))
		c.llmTokens.WithLabelValues("completion").Add(float64(e.Usage.CompletionTokens))
	}
}

func (c *Collector) setLive() {
	c.snap.SpokesLive = len(c.spokes)
	c.spokesLive.Set(float64(len(c.spokes)))
}

// actorKind names an actor from its id: "isolategpt/hub/spoke-3-mail" is a
// spoke, "isolategpt/hub" the hub.
func actorKind(id string) string {
	last := id[strings.LastIndex(id, "/")+1:]
	for _, k := range []string{"spoke", "query"} {
		if strings.HasPrefix(last, k+"-") {
			return k
		}
	}
	return last
}

// Snapshot returns a copy of the counters; with a StatusFunc, InFlight is
// asked of the hub (bounded by ctx).
func (c *Collector) Snapshot(ctx context.Context) Snapshot {
	inFlight, boxes, wait, st := c.live(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap
	s.Kills = clone(s.Kills)
	s.Steps = clone(s.Steps)
	s.ISC = clone(s.ISC)
	s.Permissions = clone(s.Permissions)
	s.Latency = clone(s.Latency)
	s.InFlight, s.Mailboxes, s.HubWait = inFlight, boxes, wait
	if st != nil {
		s.StepsQueued, s.StepsQueuedTotal, s.MaxWorkers, s.MaxWorkersPerUser = st.Queued, st.QueuedTotal, st.MaxSpokes, st.MaxSpokesPerUser
		s.QueriesQueued, s.QueriesQueuedTotal, s.MaxQueries = st.QueriesQueued, st.QueriesQueuedTotal, st.MaxQueries
	}
	return s
}

// live asks the hub for the calls in progress per app and the messages
// waiting per mailbox, and times how long it took to answer. All nil when
// there is no hub to ask or it did not answer.
func (c *Collector) live(ctx context.Context) (inFlight, mailboxes map[string]int, wait time.Duration, r *msg.StatusReply) {
	if c.status == nil {
		return nil, nil, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	r, err := c.status(ctx)
	if err != nil {
		return nil, nil, 0, nil
	}
	wait = time.Since(start)
	inFlight = map[string]int{}
	for _, s := range r.Spokes {
		inFlight[s.App] += s.InFlight
	}
	mailboxes = map[string]int{}
	for name, n := range r.Mailboxes {
		mailboxes[mailboxLabel(name)] += n
	}
	return inFlight, mailboxes, wait, r
}

// mailboxLabel names a mailbox by its actor's role: "hub", "permission",
// or "spoke <app>" for a spoke (named spoke-N-<app>), so that the labels
// do not grow with every spoke started.
func mailboxLabel(name string) string {
	if rest, ok := strings.CutPrefix(name, "spoke-"); ok {
		if _, app, ok := strings.Cut(rest, "-"); ok {
			return "spoke " + app
		}
	}
	return name
}

func clone[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// inflight reports, at scrape time, the calls in progress at each live
// spoke: the depth of the work queued on it.
type inflight struct{ c *Collector }

var (
	inflightDesc      = prometheus.NewDesc("isolategpt_spoke_calls_in_flight", "Calls in progress at the live spokes, by app (asked of the hub at scrape time).", []string{"app"}, nil)
	hubWaitDesc       = prometheus.NewDesc("isolategpt_hub_status_seconds", "How long the hub took to answer a status request at scrape time: grows with the messages waiting in its mailbox.", nil, nil)
	queuedDesc        = prometheus.NewDesc("isolategpt_steps_queued", "Steps waiting for a worker at scrape time: the pool of workers is at its global or a user's cap (admission control).", nil, nil)
	queriesQueuedDesc = prometheus.NewDesc("isolategpt_queries_queued", "Queries waiting to be admitted at scrape time: the cap on running queries is reached (admission control).", nil, nil)
	mailboxDesc       = prometheus.NewDesc("isolategpt_mailbox_messages", "Messages waiting in an actor's mailbox at scrape time: the hub, the permission manager, and the spokes of an app (summed over sessions).", []string{"actor", "app"}, nil)
)

func (i *inflight) Describe(ch chan<- *prometheus.Desc) {
	ch <- inflightDesc
	ch <- hubWaitDesc
	ch <- mailboxDesc
	ch <- queuedDesc
	ch <- queriesQueuedDesc
}

func (i *inflight) Collect(ch chan<- prometheus.Metric) {
	counts, boxes, wait, st := i.c.live(context.Background())
	if counts == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(st.Queued))
	ch <- prometheus.MustNewConstMetric(queriesQueuedDesc, prometheus.GaugeValue, float64(st.QueriesQueued))
	for app, n := range counts {
		ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(n), app)
	}
	ch <- prometheus.MustNewConstMetric(hubWaitDesc, prometheus.GaugeValue, wait.Seconds())
	for label, n := range boxes {
		actorName, app := label, ""
		if rest, ok := strings.CutPrefix(label, "spoke "); ok {
			actorName, app = "spoke", rest
		}
		ch <- prometheus.MustNewConstMetric(mailboxDesc, prometheus.GaugeValue, float64(n), actorName, app)
	}
}
