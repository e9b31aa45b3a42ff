//go:build linux

package sandbox

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
)

// The system-call filter of the programs. Built here in Go (github.com/elastic/go-seccomp-bpf, pure
// Go, no cgo and no C library on the machine), handed to the worker as raw BPF and installed by the
// zygote (after PR_SET_NO_NEW_PRIVS) once, so that every forked child inherits it at no cost per run.
//
// A deny list on top of namespaces, private uids and rlimits: it closes the kernel interfaces a
// Python program has no use for and that are the usual way out of a namespace sandbox.

// deniedSyscalls fail with EPERM.
var deniedSyscalls = []string{
	// namespaces and mounts
	"unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	// other processes' memory, tracing
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	// kernel attack surface
	"bpf", "keyctl", "add_key", "request_key", "perf_event_open", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "userfaultfd", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "open_by_handle_at", "name_to_handle_at",
	"lookup_dcookie", "syslog", "acct", "quotactl", "swapon", "swapoff", "reboot", "iopl", "ioperm",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "personality", "vhangup",
	"fanotify_init", "nfsservctl",
}

// cloneNamespaceFlags are the CLONE_NEW* bits: a clone(2) with any of them is refused.
const cloneNamespaceFlags = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

const (
	errnoEPERM  = 1
	errnoENOSYS = 38
	afUNIX      = 1
)

var (
	seccompOnce sync.Once
	seccompHex  string
	seccompErr  error
)

// seccompFilter returns the filter as hex-encoded struct sock_filter entries.
func seccompFilter() (string, error) {
	seccompOnce.Do(func() { seccompHex, seccompErr = buildSeccompFilter() })
	return seccompHex, seccompErr
}

func buildSeccompFilter() (string, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return "", fmt.Errorf("sandbox: seccomp: %w", err)
	}
	deny := seccomp.ActionErrno | seccomp.Action(errnoEPERM)
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Names: available(info, deniedSyscalls), Action: deny},
			// clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
			{Names: available(info, []string{"clone3"}), Action: seccomp.ActionErrno | seccomp.Action(errnoENOSYS)},
			{NamesWithCondtions: []seccomp.NameWithConditions{
				{Name: "clone", Conditions: []seccomp.Condition{{Argument: 0, Operation: seccomp.BitsSet, Value: cloneNamespaceFlags}}},
				// Limits and scheduling of other processes (as a user the zygote has the program's
				// uid; a program could starve it of descriptors or memory): only of itself.
				{Name: "prlimit64", Conditions: []seccomp.Condition{{Argument: 0, Operation: seccomp.NotEqual, Value: 0}}},
				{Name: "setpriority", Conditions: []seccomp.Condition{{Argument: 1, Operation: seccomp.NotEqual, Value: 0}}},
				{Name: "sched_setaffinity", Conditions: []seccomp.Condition{{Argument: 0, Operation: seccomp.NotEqual, Value: 0}}},
				{Name: "sched_setscheduler", Conditions: []seccomp.Condition{{Argument: 0, Operation: seccomp.NotEqual, Value: 0}}},
				{Name: "sched_setparam", Conditions: []seccomp.Condition{{Argument: 0, Operation: seccomp.NotEqual, Value: 0}}},
				// Sockets: AF_UNIX only (no network even where a namespace is missing).
				{Name: "socket", Conditions: []seccomp.Condition{{Argument: 0, Operation: seccomp.NotEqual, Value: afUNIX}}},
				{Name: "socketpair", Conditions: []seccomp.Condition{{Argument: 0, Operation: seccomp.NotEqual, Value: afUNIX}}},
			}, Action: deny},
		},
	}
	insts, err := policy.Assemble()
	if err != nil {
		return "", fmt.Errorf("sandbox: seccomp: %w", err)
	}
	// The library lets system calls of another architecture through (they would bypass a deny
	// list: e.g. the 32-bit int 0x80 ABI on x86-64); refuse them first.
	head := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionKillProcess)},
	}
	raw, err := bpf.Assemble(append(head, insts...))
	if err != nil {
		return "", fmt.Errorf("sandbox: seccomp: %w", err)
	}
	if len(raw) > 4096 {
		return "", fmt.Errorf("sandbox: seccomp: filter of %d instructions", len(raw))
	}
	buf := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		buf = binary.NativeEndian.AppendUint16(buf, r.Op)
		buf = append(buf, r.Jt, r.Jf)
		buf = binary.NativeEndian.AppendUint32(buf, r.K)
	}
	return hex.EncodeToString(buf), nil
}

// available keeps the names the architecture has (e.g. iopl and ioperm are x86 only).
func available(info *arch.Info, names []string) []string {
	var out []string
	for _, n := range names {
		if _, ok := info.SyscallNames[n]; ok {
			out = append(out, n)
		}
	}
	return out
}
