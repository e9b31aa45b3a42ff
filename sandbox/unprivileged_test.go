//go:build linux

package sandbox

import (
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The unprivileged half of the suite. Run as root (as CI is), TestUnprivileged runs this package's
// sandbox tests again as an ordinary user: the same test binary, re-executed under that user's uid
// (created with useradd when missing, else nobody), where the pool isolates programs through a user
// namespace. Run as an ordinary user, the whole suite is that half already.

const unprivEnv = "EXECFEED_SANDBOX_USER"

func TestUnprivileged(t *testing.T) {
	if os.Getenv(unprivEnv) != "" {
		t.Skip("this is the unprivileged half")
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: this run is the unprivileged half")
	}
	uid, gid := sandboxUser(t)
	dir, err := os.MkdirTemp("", "execfeed-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "sandbox.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, bin} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(home, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	// The user may not be able to enter the checkout (a clone under /root): the tests run in a
	// copy of what they read, a module root with the package's test data and one of its sources.
	wd := filepath.Join(dir, "module", "sandbox")
	if err := os.MkdirAll(filepath.Join(wd, "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, f := range append(files, "hostile_test.go", filepath.Join("..", "go.mod")) {
		if err := copyFile(f, filepath.Join(wd, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Join(dir, "module"), wd, filepath.Join(wd, "testdata")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.count=1", "-test.timeout=8m",
		"-test.run", "^(TestPython|TestPool|TestWorker|TestHostile|TestEvaluate|TestIsolation)")
	if testing.Verbose() {
		cmd.Args = append(cmd.Args, "-test.v")
	}
	cmd.Dir = wd
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8", unprivEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("as uid %d (%v):\n%s", uid, time.Since(start).Round(time.Millisecond), tail(string(out), 6000))
	if err != nil {
		t.Fatalf("the sandbox tests failed as an ordinary user: %v", err)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatal("the unprivileged half reported no PASS")
	}
}

// TestIsolationReport checks what the pool says it applied; in the unprivileged half of CI the user
// namespace must have been used (these machines allow them).
func TestIsolationReport(t *testing.T) {
	iso := pool(t).Isolation()
	t.Logf("isolation: %+v", iso)
	if !iso.NetNS || !iso.PidNS || !iso.Seccomp || len(iso.Allowlist) == 0 || !iso.DiskQuota {
		if os.Geteuid() == 0 || os.Getenv(unprivEnv) != "" {
			t.Errorf("isolation incomplete: %+v", iso)
		} else {
			t.Logf("WARNING: this machine does not allow the full isolation to an ordinary user: %v", iso.Notes)
		}
	}
	if os.Geteuid() != 0 && iso.NetNS && !iso.UserNS {
		t.Errorf("namespaces without root but no user namespace reported: %+v", iso)
	}
	if os.Geteuid() == 0 && iso.PrivateUID == 0 {
		t.Errorf("as root, programs should run as a private uid: %+v", iso)
	}
}

// sandboxUser returns the uid and gid of an ordinary user: execfeed-sandbox, created if missing
// and useradd exists, else nobody.
func sandboxUser(t *testing.T) (uint32, uint32) {
	const name = "execfeed-sandbox"
	if _, err := user.Lookup(name); err != nil {
		if path, err := exec.LookPath("useradd"); err == nil {
			if out, err := exec.Command(path, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
				t.Logf("useradd %s: %v: %s", name, err, out)
			}
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.Lookup("nobody"); err != nil {
			t.Fatalf("no ordinary user to run as: %v", err)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil || uid == 0 {
		t.Fatalf("user %s: uid %q gid %q", u.Username, u.Uid, u.Gid)
	}
	return uint32(uid), uint32(gid)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755) // readable by the user
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}
