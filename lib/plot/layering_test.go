package plot

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestLibraryNeverImportsKernel keeps the layering: the library (lib/...) is what notebooks and
// the host import; it never depends on the host (kernel/...).
func TestLibraryNeverImportsKernel(t *testing.T) {
	fset := token.NewFileSet()
	n := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		n++
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "/execfeed/kernel") {
				t.Errorf("%s imports %s", path, imp.Path.Value)
			}
		}
		return nil
	})
	if err != nil || n < 50 {
		t.Fatalf("walked %d files of lib/: %v", n, err)
	}
}
