package methodology

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	opencarbon "github.com/opencarbon/opencarbon"
	"go.yaml.in/yaml/v3"
)

var (
	idPattern     = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	semverPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)
	namePattern   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	yamlLine      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// Problem is one thing wrong with a document, with its position.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col,omitempty"`
	Path string `json:"path,omitempty"`
	Msg  string `json:"message"`
}

// String renders "FILE:LINE:COL: message" (COL omitted when unknown).
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
		if p.Col > 0 {
			b.WriteString(":" + strconv.Itoa(p.Col))
		}
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is a list of document problems.
type Problems []Problem

func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &DocError{Problems: ps}
}

// DocError is returned when a document or factor file is invalid. It lists
// every problem found and unwraps to an *opencarbon.Error with code
// EInvalid, so callers may treat it like any invalid input.
type DocError struct {
	Problems []Problem
}

// Error joins the problems, one per line.
func (e *DocError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the error as an *opencarbon.Error (EInvalid).
func (e *DocError) Unwrap() error {
	return &opencarbon.Error{Code: opencarbon.EInvalid, Message: e.Error()}
}

// ProblemsOf returns the problems of a *DocError in err's chain, or nil.
func ProblemsOf(err error) []Problem {
	var de *DocError
	if errors.As(err, &de) {
		return de.Problems
	}
	return nil
}

// posIndex maps dotted field paths ("parameters.0.unit") to YAML nodes,
// so that semantic problems found after decoding get a line number.
type posIndex struct {
	file  string
	nodes map[string]*yaml.Node
}

func (ix *posIndex) walk(path string, n *yaml.Node) {
	ix.nodes[path] = n
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			ix.walk(path, c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			ix.walk(join(n.Content[i].Value), n.Content[i+1])
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ix.walk(join(strconv.Itoa(i)), c)
		}
	}
}

// node returns the node at path or its nearest ancestor.
func (ix *posIndex) node(path string) *yaml.Node {
	for p := path; ; {
		if n, ok := ix.nodes[p]; ok {
			return n
		}
		i := strings.LastIndex(p, ".")
		if i < 0 {
			if n, ok := ix.nodes[""]; ok {
				return n
			}
			return nil
		}
		p = p[:i]
	}
}

func (ix *posIndex) problem(path, format string, args ...any) Problem {
	p := Problem{File: ix.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n := ix.node(path); n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	return p
}

// exprProblem positions a problem found at line/col (1-based line, 0-based
// col) inside the CEL expression stored at path.
func (ix *posIndex) exprProblem(path string, line, col int, msg string) Problem {
	p := Problem{File: ix.file, Path: path, Msg: msg}
	n := ix.node(path)
	if n == nil {
		return p
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		p.Line, p.Col = n.Line+max(line, 1), col+1
	default:
		p.Line, p.Col = n.Line+max(line, 1)-1, col+n.Column
		if n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle {
			p.Col++
		}
		if line > 1 {
			p.Col = col + 1
		}
	}
	return p
}

// decodeStrict decodes src (YAML or JSON) into out, refusing unknown
// fields, and returns the position index of the document.
func decodeStrict(name string, src []byte, out any) (*posIndex, error) {
	ix := &posIndex{file: name, nodes: map[string]*yaml.Node{}}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, Problems{yamlProblem(name, err.Error())}.err()
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{File: name, Line: max(root.Line, 1), Msg: "document must be a mapping"}}.err()
	}
	ix.walk("", &root)
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var ps Problems
			for _, m := range te.Errors {
				ps = append(ps, yamlProblem(name, m))
			}
			return nil, ps.err()
		}
		if err == io.EOF {
			return nil, Problems{{File: name, Line: 1, Msg: "empty document"}}.err()
		}
		return nil, Problems{yamlProblem(name, err.Error())}.err()
	}
	return ix, nil
}

func yamlProblem(name, msg string) Problem {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: name, Line: line, Msg: m[2]}
	}
	return Problem{File: name, Line: 1, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// canonicalJSON returns v marshalled as JSON with every object's keys
// sorted and no insignificant whitespace.
func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic)
}

// Load parses, validates and compiles one methodology document against a
// factor library. name is used in problem positions (a file name). Every
// problem found is returned in a *DocError (EInvalid).
func Load(name string, src []byte, factors *Factors) (*Methodology, error) {
	var doc Document
	ix, err := decodeStrict(name, src, &doc)
	if err != nil {
		return nil, err
	}
	probs := validateDoc(ix, &doc)
	if len(probs) > 0 {
		return nil, probs.err()
	}
	canon, err := canonicalJSON(&doc)
	if err != nil {
		return nil, Problems{{File: name, Line: 1, Msg: "cannot encode canonical form: " + err.Error()}}.err()
	}
	m, probs := compile(ix, &doc, factors)
	if len(probs) > 0 {
		return nil, probs.err()
	}
	m.canonical = canon
	m.hash = sha256Hex(canon)
	return m, nil
}
