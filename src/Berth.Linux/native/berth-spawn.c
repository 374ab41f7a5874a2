/*
 * berth_spawn_into_cgroup: posix_spawn's job (start a program from the calling thread, which may have joined
 * namespaces the rest of the process has not) with the child born in a cgroup2 cgroup: clone3 with
 * CLONE_INTO_CGROUP, as glibc 2.39's posix_spawnattr_setcgroup_np does (Debian 12 has glibc 2.36).
 *
 * Being born there is the point: moving a process into a cgroup2 cgroup afterwards takes the kernel's global
 * cgroup-migration lock in writer mode, which first waits for an RCU grace period (about 10 ms on the test hosts),
 * and every other cgroup operation on the machine queues behind it.
 *
 * Linked statically into berth-runtime (NativeAOT, DirectPInvoke). No managed code runs in the child, only
 * async-signal-safe calls; CLONE_VFORK keeps the parent until the child has exec'd or died. On x86-64 the child shares
 * the parent's memory on a stack of its own (CLONE_VM, as glibc's posix_spawn), which needs the few instructions of
 * clone3_run; elsewhere it gets a copy-on-write image holding only the calling thread (no CLONE_VM). Every signal is
 * blocked around the clone so that none of the parent's handlers can run in the child before the dispositions are
 * reset.
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

/* What the child needs, and where it reports a failed execve (shared memory with CLONE_VM, a pipe otherwise). */
struct child {
    const char *path;
    char *const *argv;
    char *const *envp;
    int reset_signals;
    uint64_t mask;
    int report_fd;
    volatile int exec_error;
};

static int child_main(struct child *c)
{
    reset_dispositions(c->reset_signals);
    uint64_t mask = c->reset_signals ? 0 : c->mask;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, sizeof(uint64_t));
    execve(c->path, c->argv, c->envp);
    int error = errno;
    c->exec_error = error;
    if (c->report_fd >= 0) {
        ssize_t written = write(c->report_fd, &error, sizeof error);
        (void)written;
    }
    return 127;
}

#if defined(__x86_64__) && !defined(BERTH_SPAWN_COPY_ON_WRITE)
#define BERTH_SPAWN_SHARED_MEMORY 1
#include <sys/mman.h>
/*
 * clone3 with a stack of its own, as glibc's clone3.S does: the child starts on the new stack right after the syscall
 * instruction (only rax, rcx and r11 differ), calls child_main and exits; the parent returns the pid.
 */
static long clone3_run(struct clone_args *args, struct child *c)
{
    long ret;
    register int (*fn)(struct child *) __asm__("r12") = child_main;
    register struct child *arg __asm__("r13") = c;
    __asm__ volatile(
        "syscall\n\t"
        "testq %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "xorl %%ebp, %%ebp\n\t"
        "andq $-16, %%rsp\n\t"
        "movq %%r13, %%rdi\n\t"
        "callq *%%r12\n\t"
        "movl %%eax, %%edi\n\t"
        "movl $60, %%eax\n\t" /* SYS_exit */
        "syscall\n\t"
        "hlt\n\t"
        "1:\n\t"
        : "=a"(ret)
        : "0"((long)SYS_clone3), "D"(args), "S"(sizeof *args), "r"(fn), "r"(arg)
        : "rcx", "r11", "memory");
    return ret;
}
#endif

int berth_spawn_into_cgroup(const char *path, char *const argv[], char *const envp[], int cgroup_fd,
                            int reset_signals, int *pid_out)
{
    struct child c = {path, argv, envp, reset_signals, 0, -1, 0};
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
#ifdef BERTH_SPAWN_SHARED_MEMORY
    /* posix_spawn's way: the child shares our memory (no page tables copied, no copy-on-write faults after) on a
       stack of its own until it execs. */
    const size_t stack_size = 64 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP;
    args.stack = (uint64_t)(uintptr_t)stack;
    args.stack_size = stack_size;
#else
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        return -errno;
    c.report_fd = report[1];
    args.flags = CLONE_VFORK | CLONE_INTO_CGROUP;
#endif

    /* Every signal blocked (raw, so glibc's own too) until the child has reset the dispositions it inherited. */
    uint64_t every = ~(uint64_t)0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &every, &c.mask, sizeof(uint64_t));
#ifdef BERTH_SPAWN_SHARED_MEMORY
    long pid = clone3_run(&args, &c);
    int clone_error = pid < 0 ? (int)-pid : 0;
#else
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        _exit(child_main(&c));
    int clone_error = pid < 0 ? errno : 0;
#endif
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &c.mask, NULL, sizeof(uint64_t));

#ifdef BERTH_SPAWN_SHARED_MEMORY
    munmap(stack, stack_size);
    /* CLONE_VFORK: the child has exec'd or exited by now; a failed execve left its errno in c. */
    int exec_error = pid > 0 ? c.exec_error : 0;
#else
    close(report[1]);
    int exec_error = 0;
    if (pid > 0) {
        ssize_t n;
        do {
            n = read(report[0], &exec_error, sizeof exec_error);
        } while (n < 0 && errno == EINTR);
        if (n != (ssize_t)sizeof exec_error)
            exec_error = 0;
    }
    close(report[0]);
#endif
    if (pid < 0)
        return -clone_error;
    if (exec_error != 0) {
        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return exec_error;
    }
    *pid_out = (int)pid;
    return 0;
}
