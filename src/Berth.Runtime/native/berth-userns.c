/*
 * berth-userns: enters or creates a user namespace for berth-runtime, then the container's other namespaces, and
 * execs the runtime's init (or exec helper) in them.
 *
 * The kernel refuses unshare(CLONE_NEWUSER) and setns() into a user namespace from a multithreaded process (EINVAL),
 * and every .NET process is multithreaded, so this small single-threaded program does that part. It is spawned by
 * berth-runtime (see UserNamespaceSpawner.cs), which still runs privileged in the host namespaces.
 *
 * Usage:
 *   berth-userns --sync-in FD --sync-out FD --exe PATH [--join TYPE=PATH]... [--new-user] [--unshare FLAGS]
 *                [--timens OFFSETS] -- ARGV0 ARGS...
 *
 *   --sync-in/--sync-out  pipe ends to read from / write to the runtime (made close-on-exec here)
 *   --exe                 the runtime binary: bind-mounted read-only onto itself in the new mount namespace, then
 *                         executed through that read-only mount (CVE-2019-5736)
 *   --join TYPE=PATH      a namespace to join (TYPE as in OCI: user, pid, network, ipc, uts, mount, cgroup, time)
 *   --new-user            create a new user namespace
 *   --unshare FLAGS       the other namespaces to create (CLONE_* flags, decimal or 0x hex), inside the user namespace
 *   --timens OFFSETS      written to /proc/self/timens_offsets after a new time namespace is created
 *
 * Protocol (newline-terminated text lines):
 *   helper -> runtime  "map PID"     the new user namespace exists; PID is the helper (write its uid_map/gid_map)
 *   runtime -> helper  "go"          the maps are written
 *   helper -> runtime  "pid PID"     host PID of the process that execs ARGV (the helper itself, or its child when a
 *                                    PID or time namespace is new or joined: those apply to children only); sent
 *                                    before that exec, so an "error" may still follow
 *   helper -> runtime  "error TEXT"  something failed; the helper exits non-zero
 * The runtime reads until end of stream: the sync-out end is close-on-exec, so EOF means the final exec happened (or
 * the helper is gone). The child is created with CLONE_PARENT, so the runtime is its parent, exactly as when the init
 * is posix_spawn'ed directly; the runtime reaps the helper itself when the two differ.
 *
 * Order: open every --join path (as host root), join the user namespace if given, join the others, create the user
 * namespace if asked, wait for the maps, create the others (so they are owned by the user namespace), make / a slave,
 * protect --exe, open it O_PATH, become uid/gid 0 of the user namespace (so that execve keeps the capabilities),
 * fork if needed, execveat the opened binary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MAX_JOINS 16

static int sync_in = -1;
static int sync_out = -1;

static void send_line(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    for (int i = 0; i < n; i++)
        if (buf[i] == '\n')
            buf[i] = ' ';
    buf[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(sync_out, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += w;
    }
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    char buf[3072];
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (sync_out >= 0)
        send_line("error %s: %s", buf, strerror(saved));
    else
        fprintf(stderr, "berth-userns: %s: %s\n", buf, strerror(saved));
    _exit(1);
}

__attribute__((noreturn)) static void usage(const char *what)
{
    errno = EINVAL;
    fail("usage: %s", what);
}

static int parse_int(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || *end || v < 0 || v > 0x7fffffff)
        usage(what);
    return (int)v;
}

static int ns_flag(const char *type)
{
    static const struct { const char *name; int flag; } kinds[] = {
        {"user", CLONE_NEWUSER}, {"pid", CLONE_NEWPID}, {"network", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC},
        {"uts", CLONE_NEWUTS}, {"mount", CLONE_NEWNS}, {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, type) == 0)
            return kinds[i].flag;
    return 0;
}

/* Reads one line from the runtime; returns 0 at end of stream. */
static int read_line(char *buf, size_t size)
{
    size_t n = 0;
    while (n < size - 1) {
        ssize_t r = read(sync_in, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = 0;
    return 1;
}

/* Bind-mounts PATH read-only onto itself, keeping the flags the kernel locks in a user namespace. */
static void protect(const char *path)
{
    struct statvfs st;
    if (mount(path, path, NULL, MS_BIND, NULL) < 0)
        fail("bind-mount %s onto itself", path);
    if (statvfs(path, &st) < 0)
        fail("statvfs %s", path);
    unsigned long keep = st.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
    if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
        fail("remount %s read-only", path);
}

int main(int argc, char **argv)
{
    const char *exe = NULL, *timens = NULL;
    const char *join_type[MAX_JOINS];
    int join_fd[MAX_JOINS], join_flag[MAX_JOINS], joins = 0;
    int new_user = 0, unshare_flags = 0;
    int i = 1;

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--new-user") == 0) {
            new_user = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage(a);
        const char *v = argv[++i];
        if (strcmp(a, "--sync-in") == 0) {
            sync_in = parse_int(v, a);
        } else if (strcmp(a, "--sync-out") == 0) {
            sync_out = parse_int(v, a);
        } else if (strcmp(a, "--exe") == 0) {
            exe = v;
        } else if (strcmp(a, "--unshare") == 0) {
            unshare_flags = parse_int(v, a);
        } else if (strcmp(a, "--timens") == 0) {
            timens = v;
        } else if (strcmp(a, "--join") == 0) {
            const char *eq = strchr(v, '=');
            char type[16];
            if (!eq || eq == v || (size_t)(eq - v) >= sizeof type || joins == MAX_JOINS)
                usage("--join TYPE=PATH");
            memcpy(type, v, eq - v);
            type[eq - v] = 0;
            int flag = ns_flag(type);
            if (!flag)
                usage("--join TYPE=PATH with a known namespace type");
            join_type[joins] = v;
            join_flag[joins] = flag;
            /* Opened now, as host root: some paths (/proc/PID/ns/...) are not reachable once in the user ns. */
            join_fd[joins] = open(eq + 1, O_RDONLY | O_CLOEXEC);
            if (join_fd[joins] < 0)
                fail("open namespace %s", v);
            joins++;
        } else {
            usage(a);
        }
    }
    if (sync_in < 0 || sync_out < 0 || !exe || i >= argc)
        usage("--sync-in FD --sync-out FD --exe PATH [options] -- ARGV...");
    if (fcntl(sync_in, F_SETFD, FD_CLOEXEC) < 0 || fcntl(sync_out, F_SETFD, FD_CLOEXEC) < 0)
        fail("sync pipe descriptors");
    if (unshare_flags & CLONE_NEWUSER) {
        errno = EINVAL;
        fail("--unshare must not contain CLONE_NEWUSER (use --new-user)");
    }
    char **child_argv = argv + i;
    int fork_needed = (unshare_flags & (CLONE_NEWPID | CLONE_NEWTIME)) != 0;

    /* A joined user namespace first: the other namespaces to join are normally owned by it. */
    for (int j = 0; j < joins; j++) {
        if (join_flag[j] == CLONE_NEWUSER && setns(join_fd[j], CLONE_NEWUSER) < 0)
            fail("join %s", join_type[j]);
    }
    for (int j = 0; j < joins; j++) {
        if (join_flag[j] == CLONE_NEWUSER)
            continue;
        if (setns(join_fd[j], join_flag[j]) < 0)
            fail("join %s", join_type[j]);
        if (join_flag[j] & (CLONE_NEWPID | CLONE_NEWTIME))
            fork_needed = 1;
    }
    for (int j = 0; j < joins; j++)
        close(join_fd[j]);

    if (new_user) {
        if (unshare(CLONE_NEWUSER) < 0)
            fail("unshare user namespace");
        send_line("map %d", (int)getpid());
        char line[64];
        if (!read_line(line, sizeof line))
            _exit(1); /* the runtime is gone */
        if (strcmp(line, "go") != 0) {
            errno = EPROTO;
            fail("unexpected message \"%s\" while waiting for the uid/gid maps", line);
        }
    }
    if (unshare_flags && unshare(unshare_flags) < 0)
        fail("unshare namespaces 0x%x", unshare_flags);
    if (timens && *timens && (unshare_flags & CLONE_NEWTIME)) {
        int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            fail("open /proc/self/timens_offsets");
        if (write(fd, timens, strlen(timens)) < 0)
            fail("write /proc/self/timens_offsets");
        close(fd);
    }
    if (!(unshare_flags & CLONE_NEWNS)) {
        errno = EINVAL;
        fail("--unshare must contain CLONE_NEWNS: the runtime binary is made read-only in a private mount namespace");
    }
    /* Nothing mounted here may propagate back to the host, the protection of the binary included. */
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        fail("make / a recursive slave");
    protect(exe);
    /* Still the host's root for permission checks: the path may pass directories the mapped root cannot search. */
    int exe_fd = open(exe, O_PATH | O_CLOEXEC);
    if (exe_fd < 0)
        fail("open %s", exe);

    /* Become root of the user namespace, or execve drops every capability. */
    if (setresgid(0, 0, 0) < 0)
        fail("setresgid 0 in the user namespace (map container gid 0 in linux.gidMappings)");
    if (setgroups(0, NULL) < 0 && errno != EPERM)
        fail("setgroups");
    if (setresuid(0, 0, 0) < 0)
        fail("setresuid 0 in the user namespace (map container uid 0 in linux.uidMappings)");

    char *envp[] = {NULL};
    if (!fork_needed) {
        send_line("pid %d", (int)getpid());
        syscall(SYS_execveat, exe_fd, "", child_argv, envp, AT_EMPTY_PATH);
        fail("exec %s", exe);
    }

    /* The exec result comes back on a close-on-exec pipe: end of stream means the exec happened. */
    int result[2];
    if (pipe2(result, O_CLOEXEC) < 0)
        fail("pipe");
    long child = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, NULL);
    if (child < 0)
        fail("clone");
    if (child == 0) {
        close(result[0]);
        syscall(SYS_execveat, exe_fd, "", child_argv, envp, AT_EMPTY_PATH);
        int err = errno;
        (void)!write(result[1], &err, sizeof err);
        _exit(127);
    }
    close(result[1]);
    /* Reported first, so that the runtime can reap the child (its own, through CLONE_PARENT) if the exec fails. */
    send_line("pid %ld", child);
    int err = 0;
    ssize_t n;
    do
        n = read(result[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        errno = err;
        fail("exec %s", exe);
    }
    return 0;
}
