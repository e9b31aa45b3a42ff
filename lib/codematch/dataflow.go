package codematch

import (
	"slices"
	"strconv"

	sitter "github.com/smacker/go-tree-sitter"
)

// Return is the pseudo-variable that returned values flow into: "return c * 2" adds the edge
// c -computedFrom-> return. It is never renamed.
const Return = "return"

// tsDataFlow is DataFlow for Python and Go: a simplified CodeBLEU data-flow graph. Variables are
// identifier nodes, except the names of functions and classes being declared, attribute and
// field names (x.attr), keyword-argument names (f(key=v)), identifiers inside types and
// imports, and the blank "_". The source is walked once in order, values before the targets
// they are assigned to, with one flat set of defined names (no scopes, no branches: a
// definition reaches every later read). Edges, all with their multiplicity:
//
//   - every read of a variable already defined: v -comesFrom-> v;
//   - assignment (Python =, annotated =, walrus :=; Go =, :=, var and const specs), for-loop
//     targets (Python for and comprehension for clauses; Go range clauses) and parameter default
//     values: s -computedFrom-> t for every variable s read in the value and every variable t
//     written by the target; when both sides are lists of the same length (a, b = b, a) the
//     pairs go element by element. A target x[i] or x.f writes x (and reads i);
//   - augmented assignment (x += v, x++) also reads x and adds x -computedFrom-> x;
//   - return statements: s -computedFrom-> return for every variable s in the returned values;
//   - parameters (and Go named results and receivers) define their names and add no edge.
//
// Calls add no edge of their own: f(x) reads f and x. Finally every variable name is replaced
// by var_0, var_1, ... in the order of its first occurrence in the source, as CodeBLEU
// normalises names, so a consistent renaming of variables leaves the edges unchanged.
func tsDataFlow(src string, lang Language) ([]Edge, error) {
	var edges []Edge
	err := withTree(src, lang, func(root *sitter.Node, b []byte) {
		f := &flow{rules: flowRules[lang], src: b, defined: map[string]bool{}, first: map[string]uint32{}}
		f.visit(root, false)
		edges = f.normalised()
	})
	return edges, err
}

// flow is the state of one data-flow walk.
type flow struct {
	rules   *rules
	src     []byte
	defined map[string]bool   // names defined so far
	first   map[string]uint32 // byte offset of each name's first occurrence
	edges   []Edge            // with the source's names
}

// visit walks n in source order; in a parameter list (def) identifiers are definitions.
func (f *flow) visit(n *sitter.Node, def bool) {
	t := n.Type()
	switch {
	case t == "identifier":
		if def {
			f.define(n)
		} else {
			f.read(n)
		}
		return
	case f.rules.assign[t] != nil:
		f.assign(n, f.rules.assign[t])
		return
	case t == "return_statement":
		f.children(n, def, nil)
		for _, s := range f.vars(n) {
			f.edge(s, Return, ComputedFrom)
		}
		return
	case f.rules.params[t]:
		def = true
	}
	f.children(n, def, nil)
}

// children visits n's children that are neither skipped (see rules.skipped) nor excluded, the
// field rules.last[n's type] last.
func (f *flow) children(n *sitter.Node, def bool, exclude []*sitter.Node) {
	var last []*sitter.Node
	for i := range int(n.ChildCount()) {
		field := n.FieldNameForChild(i)
		c := n.Child(i)
		switch {
		case f.rules.skipped(n, field, c) || slices.ContainsFunc(exclude, c.Equal):
		case field != "" && field == f.rules.last[n.Type()]:
			last = append(last, c)
		default:
			f.visit(c, def)
		}
	}
	for _, c := range last {
		f.visit(c, def)
	}
}

// assign handles an assignment-like node: values are read, then each written variable gets an
// edge from every variable of its value, then the targets are defined and the other children
// (a for loop's body) visited.
func (f *flow) assign(n *sitter.Node, r *assignRule) {
	targets, values := f.field(n, r.targets), f.field(n, r.value)
	done := append(slices.Clone(targets), values...)
	for _, v := range values {
		f.visit(v, false)
	}
	augmented := r.augmented
	if r.operator != "" {
		op := n.ChildByFieldName(r.operator)
		augmented = op != nil && op.Type() != "=" && op.Type() != ":="
	}
	targets, values = f.rules.items(targets), f.rules.items(values)
	pairwise := len(targets) > 1 && len(targets) == len(values)
	var sources []string
	for _, v := range values {
		sources = append(sources, f.vars(v)...)
	}
	var written []*sitter.Node
	for i, t := range targets {
		from := sources
		if pairwise {
			from = f.vars(values[i])
		}
		for _, w := range f.written(t) {
			name := w.Content(f.src)
			if augmented {
				f.read(w)
				f.edge(name, name, ComputedFrom)
			}
			for _, s := range from {
				f.edge(s, name, ComputedFrom)
			}
			written = append(written, w)
		}
	}
	for _, w := range written {
		f.define(w)
	}
	f.children(n, false, done)
}

// field returns n's children with the given field name (Go's var_spec has several "name"s),
// its first named child for firstNamed, nothing for "".
func (f *flow) field(n *sitter.Node, name string) []*sitter.Node {
	var out []*sitter.Node
	for i := range int(n.ChildCount()) {
		c := n.Child(i)
		switch {
		case name == "":
			return nil
		case name == firstNamed && c.IsNamed() && !ignored(c):
			return []*sitter.Node{c}
		case name != firstNamed && n.FieldNameForChild(i) == name:
			out = append(out, c)
		}
	}
	return out
}

// written returns the variables a target writes: the identifier itself, the base variable of
// x[i], x.f or *p (whose other parts are read), or the variables of a pattern list.
func (f *flow) written(t *sitter.Node) []*sitter.Node {
	if t.Type() == "identifier" {
		if f.variable(t) {
			return []*sitter.Node{t}
		}
		return nil
	}
	if base := f.rules.base[t.Type()]; base != "" {
		b := t.ChildByFieldName(base)
		if b == nil {
			return nil
		}
		f.children(t, false, []*sitter.Node{b})
		return f.written(b)
	}
	var out []*sitter.Node
	for i := range int(t.NamedChildCount()) {
		out = append(out, f.written(t.NamedChild(i))...)
	}
	return out
}

// vars returns the names of the variables in n's subtree, in source order.
func (f *flow) vars(n *sitter.Node) []string {
	if n.Type() == "identifier" {
		if f.variable(n) {
			return []string{n.Content(f.src)}
		}
		return nil
	}
	var out []string
	for i := range int(n.ChildCount()) {
		if c := n.Child(i); !f.rules.skipped(n, n.FieldNameForChild(i), c) {
			out = append(out, f.vars(c)...)
		}
	}
	return out
}

// variable reports whether an identifier is a variable (not the blank "_"), and records the
// first occurrence of its name.
func (f *flow) variable(id *sitter.Node) bool {
	name := id.Content(f.src)
	if name == "_" {
		return false
	}
	if p, ok := f.first[name]; !ok || id.StartByte() < p {
		f.first[name] = id.StartByte()
	}
	return true
}

// read records a read of an identifier: a comesFrom edge when its name is defined.
func (f *flow) read(id *sitter.Node) {
	if f.variable(id) && f.defined[id.Content(f.src)] {
		name := id.Content(f.src)
		f.edge(name, name, ComesFrom)
	}
}

// define records a definition of an identifier.
func (f *flow) define(id *sitter.Node) {
	if f.variable(id) {
		f.defined[id.Content(f.src)] = true
	}
}

func (f *flow) edge(from, to string, rel Relation) {
	f.edges = append(f.edges, Edge{From: from, To: to, Rel: rel})
}

// normalised returns the edges with every name but Return replaced by var_i, i the rank of the
// name's first occurrence among the names of the edges.
func (f *flow) normalised() []Edge {
	var names []string
	seen := map[string]bool{Return: true}
	for _, e := range f.edges {
		for _, n := range []string{e.From, e.To} {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	slices.SortFunc(names, func(a, b string) int { return int(f.first[a]) - int(f.first[b]) })
	rename := map[string]string{Return: Return}
	for i, n := range names {
		rename[n] = "var_" + strconv.Itoa(i)
	}
	out := make([]Edge, len(f.edges))
	for i, e := range f.edges {
		out[i] = Edge{From: rename[e.From], To: rename[e.To], Rel: e.Rel}
	}
	return out
}
