package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/execfeed/execfeed/lib/experiment"
	"github.com/execfeed/execfeed/lib/progress"
)

// The run index: every `kernel run` leaves a manifest.json in its output folder (lib/experiment
// manifest.go); `kernel runs` lists them, `kernel compare A B` sets two runs' headline numbers side
// by side.

func init() {
	register(command{name: "runs", summary: "list the runs under a folder (default out): status, date, duration, commit, headline numbers", run: runRuns})
	register(command{name: "compare", summary: "two runs' headline numbers side by side, with the difference (kernel compare A B: run folders or results.json files)", run: runCompare})
}

// runsFlags declares `kernel runs`'s flags.
func runsFlags(c *cli) (root *string) {
	return c.string("root", "out", nil, "folder to search for runs (their manifest.json or results.json, at most two levels down)")
}

func runRuns(args []string) error {
	c := newCLI("runs")
	root := runsFlags(c)
	if err := parseOrHelp(c, args, func(w io.Writer) {
		fmt.Fprintf(w, "usage: kernel runs [-root DIR]\n\nLists the runs found under DIR, oldest first: folder, experiment, status (running, finished,\ninterrupted, failed; killed when a run's process died without recording its end), start date,\nduration, commit, quick or not, and the headline numbers (rpn-def: each routine's test exact\naccuracy; RL experiments: each method's mean test functional accuracy).\n\n")
		c.printDefaults(w)
	}); err != nil {
		return err
	}
	return listRuns(os.Stdout, *root)
}

// runEntry is one run found under a root: its folder, its manifest (nil for a results file
// written before runs had manifests) and its results' provenance and headline numbers (nil and
// none before the run has written results).
type runEntry struct {
	dir     string
	m       *experiment.Manifest
	prov    *experiment.Provenance
	metrics []metric
}

// findRuns lists the run folders under root: the folders at most two levels down that hold a
// manifest.json or a results.json.
func findRuns(root string) ([]runEntry, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("-root: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("-root: %s is not a folder", root)
	}
	dirs := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable folder holds no run we can show
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.Count(rel, string(filepath.Separator)) >= 2 || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == experiment.ManifestName || d.Name() == "results.json" {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var runs []runEntry
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		r := runEntry{dir: dir}
		r.m, _ = experiment.ReadManifest(dir)
		results := experiment.ResultsPath(dir)
		if r.m != nil && r.m.Results != "" {
			results = filepath.Join(dir, r.m.Results)
		}
		if res, err := loadResultsFile(results); err == nil {
			r.prov, r.metrics = &res.header.Provenance, res.metrics
		}
		if r.m == nil && r.prov == nil {
			continue // a manifest.json or results.json of something else
		}
		runs = append(runs, r)
	}
	slices.SortStableFunc(runs, func(a, b runEntry) int { return a.start().Compare(b.start()) })
	return runs, nil
}

// start is when the run started: its manifest's start, else its results' date.
func (r runEntry) start() time.Time {
	if r.m != nil {
		return r.m.Start
	}
	t, _ := time.Parse(time.RFC3339, r.prov.Date)
	return t
}

// listRuns writes the table of the runs under root.
func listRuns(w io.Writer, root string) error {
	runs, err := findRuns(root)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintf(w, "no runs under %s (each kernel run writes manifest.json and results.json to its output folder)\n", root)
		return nil
	}
	header := []string{"folder", "experiment", "status", "date", "duration", "commit", "quick", "headline"}
	var rows [][]string
	for _, r := range runs {
		var exp, status, duration, commit string
		quick := false
		if m := r.m; m != nil {
			exp, status, quick = m.Experiment, m.State(), m.Quick
			commit = shortCommit(m.Commit, m.Modified)
			if m.Resumes > 0 {
				status += fmt.Sprintf(" (resumed %dx)", m.Resumes)
			}
			if d := m.Duration(); d > 0 {
				duration = progress.Duration(d)
			}
		} else {
			exp, quick = r.prov.Experiment, r.prov.Quick
			status = "finished (no manifest)"
			if !r.prov.Complete {
				status = "incomplete (no manifest)"
			}
			commit = shortCommit(r.prov.Build.Revision, r.prov.Build.Modified)
		}
		rows = append(rows, []string{r.dir, exp, status, r.start().Local().Format("2006-01-02 15:04"),
			orDash(duration), orDash(commit), map[bool]string{true: "quick", false: ""}[quick], orDash(headline(r))})
	}
	writeTable(w, header, rows)
	return nil
}

// headline is the headline numbers of a run, in one cell.
func headline(r runEntry) string {
	var parts []string
	for _, m := range r.metrics {
		if m.headline {
			parts = append(parts, fmt.Sprintf("%s %.2f%%", m.owner, 100*m.value))
		}
	}
	s := strings.Join(parts, ", ")
	if s != "" && r.prov != nil && !r.prov.Complete {
		s += " (partial)"
	}
	return s
}

func shortCommit(rev string, modified bool) string {
	if len(rev) > 7 {
		rev = rev[:7]
	}
	if rev != "" && modified {
		rev += "+dirty"
	}
	return rev
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// metric is one headline number of a run: what it measures (e.g. "baseline test exact"), of which
// routine or method (owner), and whether it is the one number `kernel runs` shows per owner.
type metric struct {
	name, owner string
	value       float64
	headline    bool
}

// loadedResults is a results file read for comparison.
type loadedResults struct {
	path    string
	header  experiment.ResultsHeader
	metrics []metric
}

// loadResultsFile reads the results file at path and its headline numbers: rpn-def's routines'
// final test exact and functional accuracy; an RL experiment's methods' mean test functional
// accuracy and pass@1, 5, 10.
func loadResultsFile(path string) (*loadedResults, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &loadedResults{path: path}
	if err := json.Unmarshal(b, &r.header); err != nil || r.header.Experiment == "" {
		return nil, fmt.Errorf("%s is not a results file (kernel run writes results.json)", path)
	}
	switch exp := r.header.Experiment; {
	case exp == "rpn-def":
		res, err := experiment.LoadDEFResults(path)
		if err != nil {
			return nil, err
		}
		for _, rt := range res.Routines {
			r.metrics = append(r.metrics,
				metric{name: rt.Name + " test exact", owner: rt.Name, value: rt.FinalTest.Exact, headline: true},
				metric{name: rt.Name + " test functional", owner: rt.Name, value: rt.FinalTest.Functional})
		}
	case slices.Contains(experiment.RLExperiments, exp):
		res, err := experiment.LoadRLResults(path)
		if err != nil {
			return nil, err
		}
		for _, s := range res.Summary {
			for _, k := range []string{"functional", "pass@1", "pass@5", "pass@10"} {
				if v, ok := s.Mean[k]; ok {
					name := s.Method + " " + k
					if k == "functional" {
						name = s.Method + " test functional"
					}
					r.metrics = append(r.metrics, metric{name: name, owner: s.Method, value: v, headline: k == "functional"})
				}
			}
		}
	}
	return r, nil
}

func runCompare(args []string) error {
	c := newCLI("compare")
	c.leftover = true
	if err := parseOrHelp(c, args, func(w io.Writer) {
		fmt.Fprintf(w, "usage: kernel compare A B\n\nA and B are run folders (as kernel runs lists them) or results.json files. Prints the two\nruns' date, commit, flags and status, their headline numbers side by side with the difference\nB - A in percentage points (rpn-def: each routine's final test exact and functional accuracy;\nRL experiments: each method's mean test functional accuracy and pass@1, 5, 10), and says which\nsettings differ between their configurations.\n")
	}); err != nil {
		return err
	}
	if c.fs.NArg() != 2 {
		return fmt.Errorf("usage: kernel compare A B (two run folders or results.json files; got %d)", c.fs.NArg())
	}
	return compareRuns(os.Stdout, c.fs.Arg(0), c.fs.Arg(1))
}

// openRun reads the run at path: a run folder (its results.json) or a results file.
func openRun(label, path string) (*loadedResults, *experiment.Manifest, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: no run folder or results file at %s", label, path)
	}
	file := path
	if st.IsDir() {
		file = experiment.ResultsPath(path)
		if m, err := experiment.ReadManifest(path); err == nil && m.Results != "" {
			file = filepath.Join(path, m.Results)
		}
	}
	res, err := loadResultsFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: %s holds no results.json (not a run folder, or its run has not written results yet; kernel runs -root DIR lists run folders)", label, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", label, err)
	}
	if exp := res.header.Experiment; exp != "rpn-def" && !slices.Contains(experiment.RLExperiments, exp) {
		return nil, nil, fmt.Errorf("%s: %s holds experiment %s; compare knows rpn-def and the RL experiments (%s)",
			label, file, res.header.Experiment, strings.Join(experiment.RLExperiments, ", "))
	}
	m, _ := experiment.ReadManifest(filepath.Dir(file))
	return res, m, nil
}

// compareRuns writes the comparison of the runs at a and b (run folders or results files).
func compareRuns(w io.Writer, a, b string) error {
	ra, ma, err := openRun("A", a)
	if err != nil {
		return err
	}
	rb, mb, err := openRun("B", b)
	if err != nil {
		return err
	}
	ha, hb := ra.header, rb.header
	for _, r := range []struct {
		label string
		res   *loadedResults
		m     *experiment.Manifest
	}{{"A", ra, ma}, {"B", rb, mb}} {
		h := r.res.header
		status := "finished (no manifest)"
		if !h.Complete {
			status = "incomplete (no manifest)"
		}
		flags := strings.Join(h.Command[min(3, len(h.Command)):], " ") // after `kernel run EXPERIMENT`
		if m := r.m; m != nil {
			status = m.State()
			var fl []string
			for _, k := range slices.Sorted(maps.Keys(m.Flags)) {
				fl = append(fl, "-"+k+"="+m.Flags[k])
			}
			flags = strings.Join(fl, " ")
		}
		exp := h.Experiment
		if h.Quick {
			exp += " (quick)"
		}
		date := h.Date
		if t, err := time.Parse(time.RFC3339, h.Date); err == nil {
			date = t.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s  %s\n   %s, started %s, commit %s, %s\n   flags: %s\n", r.label, r.res.path, exp, date,
			orDash(shortCommit(h.Build.Revision, h.Build.Modified)), status, orDash(flags))
	}
	fmt.Fprintln(w)

	// The numbers: A's in order, then those only B has.
	va, vb := map[string]float64{}, map[string]float64{}
	var names []string
	for _, m := range ra.metrics {
		va[m.name] = m.value
		names = append(names, m.name)
	}
	for _, m := range rb.metrics {
		vb[m.name] = m.value
		if _, ok := va[m.name]; !ok {
			names = append(names, m.name)
		}
	}
	var rows [][]string
	for _, n := range names {
		x, okA := va[n]
		y, okB := vb[n]
		row := []string{n, "-", "-", "-"}
		if okA {
			row[1] = fmt.Sprintf("%.2f%%", 100*x)
		}
		if okB {
			row[2] = fmt.Sprintf("%.2f%%", 100*y)
		}
		if okA && okB {
			row[3] = fmt.Sprintf("%+.2f", 100*(y-x))
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "neither run has numbers yet")
	} else {
		writeTable(w, []string{"metric", "A", "B", "B - A (points)"}, rows)
	}

	if ha.Experiment != hb.Experiment {
		fmt.Fprintf(w, "\nA and B are different experiments (%s, %s): their numbers measure different things\n", ha.Experiment, hb.Experiment)
		return nil
	}
	if ha.Quick != hb.Quick {
		fmt.Fprintf(w, "\none of the runs is a quick run (A quick: %v, B quick: %v): a quick run's numbers say nothing about the method\n", ha.Quick, hb.Quick)
	}
	for _, r := range []struct {
		label string
		h     experiment.ResultsHeader
	}{{"A", ha}, {"B", hb}} {
		if !r.h.Complete {
			fmt.Fprintf(w, "\n%s is incomplete: its run has not finished every routine or method\n", r.label)
		}
	}
	if d := experiment.ConfigDiff(ha.Config, hb.Config); len(d) > 0 {
		fmt.Fprintf(w, "\nthe configurations differ (A != B):\n")
		for _, x := range d {
			fmt.Fprintln(w, "  "+x)
		}
	} else {
		fmt.Fprintln(w, "\nsame configuration")
	}
	return nil
}
