/*
 * berth-init: a tiny init for containers (Docker's --init, HostConfig.Init), like tini or docker-init.
 *
 * A program running as PID 1 of a PID namespace gets no default signal actions (a `docker stop` SIGTERM does
 * nothing unless it installs a handler) and inherits every orphan of the container, which become zombies unless it
 * waits for them. berth-init runs as PID 1, spawns the command, forwards the signals it receives to it, reaps every
 * child, and exits with the command's status (128+N when a signal N killed it).
 *
 * Usage: berth-init [--] PROGRAM [ARGS...]
 * Static, single-threaded, no allocation: the engine bind-mounts it into containers that have no libc of their own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Signals the kernel sends to a thread for its own fault: never blocked, never forwarded. */
static const int synchronous[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS, SIGTTIN, SIGTTOU};

static void usage(void)
{
    fputs("usage: berth-init [--] PROGRAM [ARGS...]\n"
          "Runs PROGRAM as the child of a minimal init that forwards signals to it, reaps zombies and exits with its status.\n",
          stderr);
}

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage();
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "--version") == 0)) {
        puts("berth-init 0.1.0");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    if (first >= argc) {
        usage();
        return 2;
    }

    /* Not PID 1 (a shared PID namespace): adopt orphans all the same, so they are reaped here. */
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        fprintf(stderr, "berth-init: warning: cannot become a subreaper: %s; orphans may stay zombies\n", strerror(errno));

    sigset_t all, previous;
    sigfillset(&all);
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(&all, synchronous[i]);
    if (sigprocmask(SIG_SETMASK, &all, &previous) != 0) {
        fprintf(stderr, "berth-init: sigprocmask: %s\n", strerror(errno));
        return 1;
    }

    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "berth-init: fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        /* Its own process group, in the foreground of the terminal if there is one, so ^C reaches it. */
        setpgid(0, 0);
        if (isatty(STDIN_FILENO)) {
            signal(SIGTTOU, SIG_IGN);
            tcsetpgrp(STDIN_FILENO, getpid());
            signal(SIGTTOU, SIG_DFL);
        }
        sigprocmask(SIG_SETMASK, &previous, NULL);
        execvp(argv[first], &argv[first]);
        int e = errno;
        fprintf(stderr, "berth-init: exec %s: %s\n", argv[first], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }

    int exit_code = -1;
    struct timespec tick = {1, 0};
    for (;;) {
        siginfo_t info;
        int sig = sigtimedwait(&all, &info, &tick);
        if (sig > 0 && sig != SIGCHLD) {
            /* Forwarded to the child only: it decides what its own children get, as it would as PID 1 itself. */
            if (kill(child, sig) != 0 && errno != ESRCH)
                fprintf(stderr, "berth-init: forwarding signal %d: %s\n", sig, strerror(errno));
            continue;
        }
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            fprintf(stderr, "berth-init: sigtimedwait: %s\n", strerror(errno));
            return 1;
        }
        /* SIGCHLD or the periodic tick: reap everything that has exited. */
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0) {
                if (pid < 0 && errno == ECHILD && exit_code >= 0)
                    return exit_code;
                break;
            }
            if (pid == child)
                exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        /* The command is done: exit now, as tini does; the kernel kills what is left in the PID namespace. */
        if (exit_code >= 0)
            return exit_code;
    }
}
