package structured

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yaml11Typed matches the plain scalars that YAML 1.1 readers (SnakeYAML,
// PyYAML) take for booleans or sexagesimal numbers while YAML 1.2 reads them
// as strings; such a string value is quoted.
var yaml11Typed = regexp.MustCompile(`^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$`)

// yamlErrLine finds the line in a yaml.v3 error message.
var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yaml replaces values in a YAML stream and writes it again.
func (r *replacer) yaml() ([]byte, error) {
	if yamlIndicators(r.src) > MaxNodes {
		return nil, r.limit("nodes", MaxNodes, -1)
	}
	d := yaml.NewDecoder(bytes.NewReader(r.src))
	var docs []*yaml.Node
	nodes := 0
	for {
		var doc yaml.Node
		err := d.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, r.yamlError(err)
		}
		if err := r.yamlLimits(&doc, 0, &nodes); err != nil {
			return nil, err
		}
		docs = append(docs, &doc)
	}
	for _, doc := range docs {
		if len(doc.Content) > 0 {
			if err := r.yamlNode(doc.Content[0], nil); err != nil {
				return nil, err
			}
		}
	}
	if len(r.applied) == 0 {
		return r.src, nil
	}
	var b bytes.Buffer
	if bytes.HasPrefix(bytes.TrimLeft(r.src, " \t\r\n"), []byte("---")) {
		b.WriteString("---\n")
	}
	e := yaml.NewEncoder(&b)
	e.SetIndent(yamlIndent(r.src))
	for _, doc := range docs {
		if err := e.Encode(doc); err != nil {
			return nil, r.parseError(0, 0, "cannot write the result: %v", err)
		}
	}
	if err := e.Close(); err != nil {
		return nil, r.parseError(0, 0, "cannot write the result: %v", err)
	}
	out := b.Bytes()
	// A replaced mapping may have held an anchor that an alias elsewhere
	// still uses; the result must parse all the same.
	for d := yaml.NewDecoder(bytes.NewReader(out)); ; {
		var doc yaml.Node
		if err := d.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			return nil, r.parseError(0, 0, "the result would not be valid YAML (%v); is an anchor inside a replaced value still used?", err)
		}
	}
	if crlf(r.src) {
		out = bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))
	}
	return out, nil
}

// yamlIndicators counts the places where a YAML node can start in src: line
// breaks, the flow indicators , [ and {, and : - ? followed by white space
// (or, for :, following a quote). Every node but the first of a document
// starts at one, and at most a few start at each, so that a file with more
// of them than MaxNodes is refused before its parser, which reads the whole
// file at once, builds a tree of it.
func yamlIndicators(src []byte) int {
	n := 0
	for i, c := range src {
		switch c {
		case '\n', ',', '[', '{':
			n++
		case ':', '-', '?':
			next := i+1 == len(src) || src[i+1] == ' ' || src[i+1] == '\t' || src[i+1] == '\n' || src[i+1] == '\r'
			quoted := c == ':' && i > 0 && (src[i-1] == '"' || src[i-1] == '\'')
			if next || quoted {
				n++
			}
		}
	}
	return n
}

// yamlLimits counts the nodes of n, at depth (a document is at 0), into
// nodes, and refuses mappings and sequences nested deeper than MaxDepth or
// a tree that takes the count past MaxNodes.
func (r *replacer) yamlLimits(n *yaml.Node, depth int, nodes *int) error {
	if depth > MaxDepth && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) {
		return &LimitError{File: r.file, Line: n.Line, Limit: "depth", Max: MaxDepth}
	}
	if err := r.tick(); err != nil {
		return err
	}
	if *nodes++; *nodes > MaxNodes {
		return &LimitError{File: r.file, Line: n.Line, Limit: "nodes", Max: MaxNodes}
	}
	for _, c := range n.Content {
		if err := r.yamlLimits(c, depth+1, nodes); err != nil {
			return err
		}
	}
	return nil
}

// yamlNode replaces what variables name in n, at path, or under it.
func (r *replacer) yamlNode(n *yaml.Node, path []string) error {
	if err := r.tick(); err != nil {
		return err
	}
	if len(path) > 0 {
		p := strings.Join(path, ":")
		name, value, ok, err := r.lookupPath(p, n.Line)
		if err != nil {
			return err
		}
		if ok && n.Kind != yaml.AliasNode {
			line := n.Line
			if err := r.yamlReplace(n, name, value); err != nil {
				return err
			}
			r.record(name, p, line)
			return nil
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode {
				if err := r.yamlNode(n.Content[i+1], append(path, k.Value)); err != nil {
					return err
				}
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := r.yamlNode(c, append(path, strconv.Itoa(i))); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlReplace writes value into n, keeping its type where the value fits
// it, and its anchor and comments.
func (r *replacer) yamlReplace(n *yaml.Node, name, value string) error {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if yamlIndicators([]byte(value)) > MaxNodes {
			return &LimitError{File: r.file, Line: n.Line, Limit: "nodes", Max: MaxNodes}
		}
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(value), &doc); err != nil {
			return r.valueError(name, n.Line, "value must be YAML to replace a %s", map[yaml.Kind]string{yaml.MappingNode: "mapping", yaml.SequenceNode: "sequence"}[n.Kind])
		}
		count := 0
		if err := r.yamlLimits(&doc, 0, &count); err != nil {
			return err
		}
		repl := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
		if len(doc.Content) > 0 {
			repl = doc.Content[0]
			restyle(repl, n.Style&yaml.FlowStyle != 0)
		}
		repl.Anchor = n.Anchor
		repl.HeadComment, repl.LineComment, repl.FootComment = n.HeadComment, n.LineComment, n.FootComment
		*n = *repl
		return nil
	}
	switch tag := n.ShortTag(); {
	case (tag == "!!int" || tag == "!!float") && (plainTag(value) == "!!int" || plainTag(value) == "!!float"):
		n.Tag, n.Value, n.Style = plainTag(value), value, 0
	case tag == "!!bool" && (strings.EqualFold(value, "true") || strings.EqualFold(value, "false")):
		n.Tag, n.Value, n.Style = "!!bool", strings.ToLower(value), 0
	default:
		n.Tag, n.Value = "!!str", value
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Style = 0 // plain, or quoted where the value needs it
		}
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && !strings.Contains(value, "\n") {
			n.Style = 0
		}
		if n.Style == 0 && yaml11Typed.MatchString(value) {
			n.Style = yaml.DoubleQuotedStyle // a string to YAML 1.2, not to 1.1 readers
		}
	}
	return nil
}

// restyle writes a replacement in the style of what it replaces: block or
// flow, and scalars quoted only where they need it.
func restyle(n *yaml.Node, flow bool) {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		n.Style = 0
		if flow {
			n.Style = yaml.FlowStyle
		}
		for _, c := range n.Content {
			restyle(c, flow)
		}
	case yaml.ScalarNode:
		n.Style = 0
	}
}

// plainTag returns the tag YAML gives value written as a plain scalar, or
// "" when it is not one plain scalar.
func plainTag(value string) string {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(value), &doc); err != nil || len(doc.Content) != 1 {
		return ""
	}
	n := doc.Content[0]
	if n.Kind != yaml.ScalarNode || n.Style != 0 || n.Value != value {
		return ""
	}
	return n.ShortTag()
}

// yamlIndent returns the most common step by which a line is indented more
// than the line before, between 2 and 8, or 2.
func yamlIndent(src []byte) int {
	counts := map[int]int{}
	prev := 0
	for _, line := range bytes.Split(src, []byte("\n")) {
		t := bytes.TrimLeft(line, " ")
		if len(bytes.TrimSpace(t)) == 0 || t[0] == '#' {
			continue
		}
		ind := len(line) - len(t)
		if step := ind - prev; step >= 2 && step <= 8 {
			counts[step]++
		}
		prev = ind
	}
	best := 2
	for step, c := range counts {
		if c > counts[best] || c == counts[best] && step < best {
			best = step
		}
	}
	return best
}

// yamlError turns a yaml.v3 error into a ParseError with its line.
func (r *replacer) yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return r.parseError(0, 0, "%s", strings.Join(te.Errors, "; "))
	}
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return r.parseError(line, 0, "%s", m[2])
	}
	return r.parseError(0, 0, "%s", strings.TrimPrefix(msg, "yaml: "))
}
