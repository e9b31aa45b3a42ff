package codematch

import sitter "github.com/smacker/go-tree-sitter"

// assignRule describes an assignment-like node type for tsDataFlow.
type assignRule struct {
	// targets and value are the fields holding the written expressions and the value, or
	// firstNamed for the first named child; value "" for none.
	targets, value string
	// augmented: the targets are read as well as written (x++).
	augmented bool
	// operator, when set, is the field of the assignment operator: the rule is augmented unless
	// the operator is "=" or ":=".
	operator string
}

// firstNamed, as an assignRule field, stands for the node's first named child.
const firstNamed = "*"

// rules are a grammar's node types and fields as tsDataFlow needs them.
type rules struct {
	assign map[string]*assignRule // assignment-like node types
	params map[string]bool        // parameter lists: their identifiers are definitions
	// skip holds node types, "parent.field" and "*.field" (any parent) whose subtrees hold no
	// variables: declared names, attribute names, types, imports.
	skip map[string]bool
	base map[string]string // x[i], x.f, *p: the field of the variable an assignment writes
	last map[string]string // comprehensions: the field to visit after the others (the body)
	list map[string]bool   // node types that are lists of targets or values (a, b = b, a)
}

// skipped reports whether child c, in field of parent, is ignored by the data-flow walk.
func (r *rules) skipped(parent *sitter.Node, field string, c *sitter.Node) bool {
	return ignored(c) || r.skip[c.Type()] ||
		field != "" && (r.skip["*."+field] || r.skip[parent.Type()+"."+field])
}

// items expands the list nodes among ns into their named children.
func (r *rules) items(ns []*sitter.Node) []*sitter.Node {
	var out []*sitter.Node
	for _, n := range ns {
		if !r.list[n.Type()] {
			out = append(out, n)
			continue
		}
		for i := range int(n.NamedChildCount()) {
			if c := n.NamedChild(i); !ignored(c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// set makes a set of strings.
func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// flowRules are the data-flow rules of the tree-sitter languages.
var flowRules = map[Language]*rules{
	Python: {
		assign: map[string]*assignRule{
			"assignment":              {targets: "left", value: "right"},
			"augmented_assignment":    {targets: "left", value: "right", augmented: true},
			"for_statement":           {targets: "left", value: "right"},
			"for_in_clause":           {targets: "left", value: "right"},
			"named_expression":        {targets: "name", value: "value"},
			"default_parameter":       {targets: "name", value: "value"},
			"typed_default_parameter": {targets: "name", value: "value"},
		},
		params: set("parameters", "lambda_parameters"),
		skip: set("import_statement", "import_from_statement", "future_import_statement", "*.type",
			"function_definition.name", "function_definition.return_type", "class_definition.name",
			"keyword_argument.name", "attribute.attribute"),
		base: map[string]string{"subscript": "value", "attribute": "object"},
		last: map[string]string{"list_comprehension": "body", "set_comprehension": "body",
			"dictionary_comprehension": "body", "generator_expression": "body"},
		list: set("expression_list", "pattern_list", "tuple_pattern", "list_pattern", "tuple"),
	},
	Go: {
		assign: map[string]*assignRule{
			"assignment_statement":  {targets: "left", value: "right", operator: "operator"},
			"short_var_declaration": {targets: "left", value: "right"},
			"var_spec":              {targets: "name", value: "value"},
			"const_spec":            {targets: "name", value: "value"},
			"range_clause":          {targets: "left", value: "right"},
			"inc_statement":         {targets: firstNamed, augmented: true},
			"dec_statement":         {targets: firstNamed, augmented: true},
		},
		params: set("parameter_list"),
		skip: set("import_declaration", "package_clause", "type_declaration", "*.type",
			"*.type_parameters", "*.type_arguments", "function_declaration.name"),
		base: map[string]string{"index_expression": "operand", "selector_expression": "operand",
			"unary_expression": "operand"},
		list: set("expression_list"),
	},
}
