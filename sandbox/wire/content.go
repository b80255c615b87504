package wire

import (
	"encoding/json"
	"fmt"
)

// Ways of reading a tool's result (the values of specs.ResultStructured
// and specs.ResultText).
const (
	ResultStructured = "structured"
	ResultText       = "text"
)

// Content item types, as MCP names them.
const (
	ContentImage        = "image"
	ContentAudio        = "audio"
	ContentResource     = "resource"
	ContentResourceLink = "resource_link"
)

// ContentItem is one content item of a tool's result as the hub keeps it:
// typed, with MCP's members under identifier names. Every string in it is
// the app's. Which members are set depends on Type: text has Text; image
// and audio have MimeType and Data (base64); resource has URI, MimeType
// and Text or Data (its blob); resource_link has URI, Name, MimeType and
// Size.
type ContentItem struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	MimeType string `json:"mime_type,omitempty"`
	Data     string `json:"data,omitempty"`
	URI      string `json:"uri,omitempty"`
	Name     string `json:"name,omitempty"`
	Size     *int64 `json:"size,omitempty"`
}

// TextResult is a text function's output (specs.TextOutput): the text
// items joined, and every item.
type TextResult struct {
	Text    string        `json:"text"`
	Content []ContentItem `json:"content"`
}

// parseContent reads a result's content items by exact member names.
// Items of a type this package does not know are skipped.
func parseContent(o object) ([]ContentItem, error) {
	raws, err := o.array("content", false)
	if err != nil {
		return nil, err
	}
	var items []ContentItem
	for i, raw := range raws {
		co, err := parseObject(raw, fmt.Sprintf("content[%d]", i))
		if err != nil {
			return nil, err
		}
		it := ContentItem{}
		if it.Type, err = co.str("type", true, 32); err != nil {
			return nil, err
		}
		switch it.Type {
		case ContentText:
			if it.Text, err = co.str("text", true, -1); err != nil {
				return nil, err
			}
		case ContentImage, ContentAudio:
			if it.Data, err = co.str("data", true, -1); err != nil {
				return nil, err
			}
			if it.MimeType, err = co.str("mimeType", false, maxInfoBytes); err != nil {
				return nil, err
			}
		case ContentResource:
			res, err := co.obj("resource", true)
			if err != nil {
				return nil, err
			}
			ro, err := parseObject(res, co.what+".resource")
			if err != nil {
				return nil, err
			}
			if err := readLink(ro, &it, false); err != nil {
				return nil, err
			}
			if it.Text, err = ro.str("text", false, -1); err != nil {
				return nil, err
			}
			if it.Data, err = ro.str("blob", false, -1); err != nil {
				return nil, err
			}
		case "resource_link":
			it.Type = ContentResourceLink
			if err := readLink(co, &it, true); err != nil {
				return nil, err
			}
		default:
			continue
		}
		items = append(items, it)
	}
	return items, nil
}

// readLink reads a resource's uri, mimeType and, for a link, name and
// size.
func readLink(o object, it *ContentItem, link bool) error {
	var err error
	if it.URI, err = o.str("uri", true, 4096); err != nil {
		return err
	}
	if it.MimeType, err = o.str("mimeType", false, maxInfoBytes); err != nil {
		return err
	}
	if !link {
		return nil
	}
	if it.Name, err = o.str("name", false, maxInfoBytes); err != nil {
		return err
	}
	if v, _ := o.get("size", false); v != nil {
		var n int64
		if json.Unmarshal(v, &n) != nil || n < 0 {
			return fmt.Errorf("%w: %s.size is not a size", ErrProtocol, o.what)
		}
		it.Size = &n
	}
	return nil
}
