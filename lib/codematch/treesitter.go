package codematch

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	sitter "github.com/smacker/go-tree-sitter"
	"github.com/smacker/go-tree-sitter/golang"
	"github.com/smacker/go-tree-sitter/python"
)

// grammar returns the tree-sitter grammar of a tree-sitter language.
func grammar(lang Language) *sitter.Language {
	if lang == Go {
		return golang.GetLanguage()
	}
	return python.GetLanguage()
}

// withTree parses src and calls f on the root of its syntax tree; parser and tree are closed
// when f returns, so f must not keep nodes. A tree with an ERROR or MISSING node wraps ErrSyntax.
func withTree(src string, lang Language, f func(root *sitter.Node, src []byte)) error {
	p := sitter.NewParser()
	defer p.Close()
	p.SetLanguage(grammar(lang))
	b := []byte(src)
	tree, err := p.ParseCtx(context.Background(), nil, b)
	if err != nil {
		return fmt.Errorf("codematch: parsing %s: %w", lang, err)
	}
	defer tree.Close()
	root := tree.RootNode()
	if root.HasError() {
		return fmt.Errorf("%w: %s: %s", ErrSyntax, lang, firstError(root))
	}
	f(root, b)
	return nil
}

// firstError describes the first ERROR or MISSING node under n, e.g. "ERROR at 2:5".
func firstError(n *sitter.Node) string {
	if n.IsError() || n.IsMissing() {
		p := n.StartPoint()
		kind := "ERROR"
		if n.IsMissing() {
			kind = "MISSING " + n.Type()
		}
		return fmt.Sprintf("%s at %d:%d", kind, p.Row+1, p.Column+1)
	}
	for i := range int(n.ChildCount()) {
		if c := n.Child(i); c.HasError() || c.IsMissing() {
			return firstError(c)
		}
	}
	return "error"
}

// ignored reports whether a node takes no part in the structure: comments (CodeBLEU strips them
// before parsing) and the statement terminators "\n" and ";" (which depend on formatting).
func ignored(n *sitter.Node) bool {
	switch n.Type() {
	case "comment", "\n", ";":
		return true
	}
	return false
}

// tsSubtrees is Subtrees for Python and Go, CodeBLEU's syntax match: the root and every node
// with children is the root of one subtree, written as an S-expression of node types, e.g. for
// the Python "c = a + b"
//
//	(assignment (identifier) "=" (binary_operator (identifier) "+" (identifier)))
//
// A named node is "(type children...)"; identifier names and literal values are dropped (a
// leaf is "(identifier)", "(integer)"). Unlike CodeBLEU, whose S-expressions hold only named
// nodes, anonymous tokens are kept, quoted: without them "a + b" and "a - b" have the same
// tree, and seed 004 wants R_ast to catch a wrong operator. Comments and statement terminators
// are left out (see ignored). Field names are not written.
func tsSubtrees(src string, lang Language) ([]string, error) {
	var out []string
	var sexp func(n *sitter.Node, root bool) string
	sexp = func(n *sitter.Node, root bool) string {
		if !n.IsNamed() {
			return strconv.Quote(n.Type())
		}
		var sb strings.Builder
		sb.WriteString("(" + n.Type())
		children := 0
		for i := range int(n.ChildCount()) {
			c := n.Child(i)
			if ignored(c) {
				continue
			}
			children++
			sb.WriteString(" " + sexp(c, false))
		}
		sb.WriteString(")")
		if root || children > 0 {
			out = append(out, sb.String())
		}
		return sb.String()
	}
	err := withTree(src, lang, func(root *sitter.Node, _ []byte) { sexp(root, true) })
	return out, err
}
