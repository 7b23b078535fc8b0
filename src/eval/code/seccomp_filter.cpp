// The sandbox's syscall filter, built with libseccomp and exported as BPF once, so the child only
// has to hand it to prctl().
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <initializer_list>

#include "cotrain/core/error.h"
#include "sandbox_plan.h"

namespace cotrain {

std::vector<unsigned char> build_seccomp_program() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) fail_runtime("seccomp_init failed");
  // Kernel attack surface and ways out of the sandbox that a contest solution never needs.
  const char* denied[] = {"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
                          "pidfd_open", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
                          "move_mount", "open_tree", "fsopen", "fsmount", "fspick", "mount_setattr",
                          "kexec_load", "kexec_file_load", "reboot", "bpf", "perf_event_open", "userfaultfd",
                          "keyctl", "add_key", "request_key", "init_module", "finit_module", "delete_module",
                          "swapon", "swapoff", "acct", "quotactl", "syslog", "settimeofday", "clock_settime",
                          "clock_adjtime", "adjtimex", "iopl", "ioperm", "open_by_handle_at",
                          "name_to_handle_at", "io_uring_setup", "io_uring_enter", "io_uring_register",
                          "lookup_dcookie", "vhangup", "personality", "sethostname", "setdomainname",
                          "fanotify_init", "nfsservctl", "uselib"};
  int rc = 0;
  for (const char* name : denied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr != __NR_SCMP_ERROR) rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
  }
  // Sockets: only AF_UNIX (Python's multiprocessing uses socketpairs); no network family at all.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
  // clone with namespace flags would make namespaces of its own; clone3 hides its flags in memory,
  // so it is refused with ENOSYS and libc falls back to clone.
  for (unsigned long flag : std::initializer_list<unsigned long>{CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                                                 CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
                                                                 0x80ul /* CLONE_NEWTIME */})
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc != 0) {
    seccomp_release(ctx);
    fail_runtime("cannot build the seccomp filter");
  }
  int memfd = static_cast<int>(syscall(SYS_memfd_create, "seccomp", MFD_CLOEXEC));
  bool exported = memfd >= 0 && seccomp_export_bpf(ctx, memfd) == 0;
  seccomp_release(ctx);
  std::vector<unsigned char> program;
  if (exported) {
    off_t size = lseek(memfd, 0, SEEK_END);
    program.resize(static_cast<std::size_t>(std::max<off_t>(size, 0)));
    exported = size > 0 && pread(memfd, program.data(), program.size(), 0) == size;
  }
  if (memfd >= 0) close(memfd);
  if (!exported) fail_runtime("cannot export the seccomp filter");
  return program;
}

}  // namespace cotrain
