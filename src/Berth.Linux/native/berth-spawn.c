/*
 * berth_spawn_into_cgroup: posix_spawn's job (start a program from the calling thread, which may have joined
 * namespaces the rest of the process has not) with the child born in a cgroup2 cgroup: clone3 with
 * CLONE_INTO_CGROUP, as glibc 2.39's posix_spawnattr_setcgroup_np does (Debian 12 has glibc 2.36).
 *
 * Being born there is the point: moving a process into a cgroup2 cgroup afterwards takes the kernel's global
 * cgroup-migration lock in writer mode, which first waits for an RCU grace period (about 10 ms on the test hosts),
 * and every other cgroup operation on the machine queues behind it.
 *
 * Linked statically into berth-runtime (NativeAOT, DirectPInvoke). No managed code runs in the child: the clone has
 * no CLONE_VM (the child gets a copy-on-write image holding only the calling thread, so it can return from the
 * syscall on its own stack), CLONE_VFORK keeps the parent until the child has exec'd or died, and the child uses only
 * async-signal-safe calls. Every signal is blocked around the clone so that none of the parent's handlers can run in
 * the child before the dispositions are reset.
 *
 * Returns 0 and sets *pid_out; -errno when the clone itself failed (ENOSYS, E2BIG, EINVAL: a kernel without clone3
 * or CLONE_INTO_CGROUP; EACCES, ENOENT: not allowed to place the child there) so the caller can spawn another way;
 * +errno when the program could not be executed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* struct kernel_sigaction as rt_sigaction takes it (no sa_restorer needed for SIG_DFL). */
struct berth_ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

/*
 * As glibc's spawn child does: no handler of the parent may run in the child, so every handled signal goes back to
 * its default action; ignored ones stay ignored unless `all` (POSIX_SPAWN_SETSIGDEF for every signal). Raw
 * rt_sigaction: glibc's sigaction refuses its own reserved real-time signals (32, 33).
 */
static void reset_dispositions(int all)
{
    struct berth_ksigaction dfl, old;
    memset(&dfl, 0, sizeof dfl);
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        memset(&old, 0, sizeof old);
        if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) < 0)
            continue;
        if (old.handler == SIG_DFL || (old.handler == SIG_IGN && !all))
            continue;
        syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
    }
}

int berth_spawn_into_cgroup(const char *path, char *const argv[], char *const envp[], int cgroup_fd,
                            int reset_signals, int *pid_out)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        return -errno;

    uint64_t every = ~(uint64_t)0, previous = 0;
    /* Raw, so that glibc's own signals are blocked too. */
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &every, &previous, sizeof(uint64_t));

    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_VFORK | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
        close(report[0]);
        reset_dispositions(reset_signals);
        uint64_t mask = reset_signals ? 0 : previous;
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, sizeof(uint64_t));
        execve(path, argv, envp);
        int error = errno;
        ssize_t written = write(report[1], &error, sizeof error);
        (void)written;
        _exit(127);
    }
    int clone_error = pid < 0 ? errno : 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &previous, NULL, sizeof(uint64_t));
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        return -clone_error;
    }
    int exec_error = 0;
    ssize_t n;
    do {
        n = read(report[0], &exec_error, sizeof exec_error);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof exec_error) {
        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return exec_error != 0 ? exec_error : EIO;
    }
    *pid_out = (int)pid;
    return 0;
}
