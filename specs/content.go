package specs

import (
	"sync"

	"github.com/isolategpt/isolategpt/specs/schema"
)

// Content item types, as a text result records them (MCP's types, with
// resource_link spelled as an identifier).
const (
	ContentText         = "text"
	ContentImage        = "image"
	ContentAudio        = "audio"
	ContentResource     = "resource"
	ContentResourceLink = "resource_link"
)

// textOutput is the hub's own schema for a function whose result is text:
// every content item the tool returned, typed, and their text joined.
const textOutput = `{
  "type": "object",
  "properties": {
    "text": {"type": "string"},
    "content": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "type": {"type": "string", "enum": ["text", "image", "audio", "resource", "resource_link"]},
          "text": {"type": "string"},
          "mime_type": {"type": "string"},
          "data": {"type": "string"},
          "uri": {"type": "string"},
          "name": {"type": "string"},
          "size": {"type": "integer", "minimum": 0}
        },
        "required": ["type"]
      }
    }
  },
  "required": ["text", "content"]
}`

var textOutputSchema = sync.OnceValue(func() *schema.Schema {
	s, err := schema.Compile([]byte(textOutput))
	if err != nil {
		panic("specs: text output schema: " + err.Error())
	}
	return s
})

// TextOutput is the output schema of every function whose result is
// ResultText: {"text": all text items joined, "content": [items]}, each
// item {"type", and "text" | "mime_type", "data" | "uri", "name",
// "mime_type", "text" | "data"}. It is the hub's, not the app's.
func TextOutput() *schema.Schema { return textOutputSchema() }
