// Package spawner is the sandbox's zygote: a small process, this binary
// re-executed once per hub (`isolategpt sandbox-spawner`), that forks every
// worker on the hub's request, so that the hub never forks itself. A
// worker's start then costs what forking this small process costs, whatever
// the hub's heap and however many workers are alive, and the hub holds no
// OS thread for a live worker.
//
// The hub and its spawner share one SOCK_SEQPACKET socketpair (the
// spawner's fd 3), one message a packet, JSON:
//
//	hub                                          spawner (locked OS thread)
//	  socketpair; fork+exec `sandbox-spawner`
//	  with Pdeathsig, from a thread kept for it  PR_SET_PDEATHSIG, check the
//	                                             hub is still its parent;
//	                                             confine itself
//	  spawn {id, files} + SCM_RIGHTS ──────────▶ clone(NEWUSER|NEWNS|NEWPID|
//	    (the worker's stdio and its status,      NEWIPC|NEWUTS|NEWNET), uid
//	     egress and grant descriptors)           and gid maps, Pdeathsig;
//	                                             exec `worker` with those fds
//	         ◀──────────────────────────────── spawned {id, pid} or {id, error}
//	  kill {pid} ──────────────────────────────▶ SIGKILL, only to a child it
//	                                             has not reaped
//	         ◀──────────────────────────────── exit {pid, status, stderr}
//	  (the hub dies: its socket closes)         kill every worker, exit
//
// The spawner confines itself before its first request (confine.go,
// profile.go): no descriptors but its socket, no_new_privs, only the
// capabilities a root spawner needs, a seccomp denylist of calls no worker
// profile may make (inherited by every worker from its first
// instruction), and, with Landlock ABI 6 or later, scopes that keep its
// signals to its own workers.
//
// The spawner runs only its own binary, in the worker stage, with every
// namespace: a request chooses descriptors, never the program, its
// arguments, its environment or its namespaces. The set-up hand-shake
// itself (configuration, built root, go, ready) is between the hub and the
// worker on the status socket, as before (see sandbox/worker).
//
// Lifetime: the spawner gets SIGKILL when the hub's thread that started it
// ends (the hub keeps that thread for it), and kills its workers when the
// hub's end of the socket closes; each worker gets SIGKILL when the
// spawner dies (Pdeathsig from the spawner's one forking thread), and the
// kernel kills what runs in a worker's pid namespace with it.
package spawner
