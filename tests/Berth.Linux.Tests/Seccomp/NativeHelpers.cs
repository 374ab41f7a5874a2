using System.Diagnostics;
using System.Globalization;
using System.Text;
using Berth.Linux.Seccomp;

namespace Berth.Linux.Tests.Seccomp;

/// <summary>
/// Small C programs the seccomp tests build with cc at test time (deps/seccomp.apt: libseccomp-dev, gcc):
/// a libseccomp exporter that builds a profile the way runc does, and a loader that installs a BPF file and execs.
/// </summary>
public static class NativeHelpers
{
    private static readonly Lazy<string> Dir = new(() =>
    {
        var dir = Directory.CreateTempSubdirectory("berth-seccomp-native-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return dir;
    });
    private static readonly Lazy<string> ExporterLazy = new(() => Build("libseccomp-export", ExporterSource, "-lseccomp"));
    private static readonly Lazy<string> LoaderLazy = new(() => Build("seccomp-load", LoaderSource, ""));

    public static string Exporter => ExporterLazy.Value;

    public static string Loader => LoaderLazy.Value;

    private static string Build(string name, string source, string libs)
    {
        var c = Path.Combine(Dir.Value, name + ".c");
        var exe = Path.Combine(Dir.Value, name);
        File.WriteAllText(c, source);
        var (code, output) = Run("cc", $"-O1 -Wall -o {exe} {c} {libs}");
        if (code != 0)
        {
            throw new InvalidOperationException($"cc {name}.c failed ({code}); install libseccomp-dev and gcc (deps/seccomp.apt):\n{output}");
        }
        return exe;
    }

    public static (int Code, string Output) Run(string file, string args, string? stdin = null)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
        };
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    /// <summary>The exporter's input: one profile per "profile" block, with the OCI names, as a runtime would pass them.</summary>
    public static string Describe(SeccompProfile profile, string output, bool optimize = false)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"profile {output} {(optimize ? 1 : 0)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"default {SeccompOracle.RetOf(profile.DefaultAction, profile.DefaultErrnoRet)}\n");
        foreach (var arch in profile.Architectures)
        {
            sb.Append(CultureInfo.InvariantCulture, $"arch {SeccompNames.Name(arch)["SCMP_ARCH_".Length..].ToLowerInvariant()}\n");
        }
        foreach (var rule in profile.Rules)
        {
            foreach (var name in rule.Names)
            {
                sb.Append(CultureInfo.InvariantCulture, $"rule {SeccompOracle.RetOf(rule.Action, rule.ErrnoRet)} {name} {rule.Conditions.Count}");
                foreach (var c in rule.Conditions)
                {
                    sb.Append(CultureInfo.InvariantCulture, $" {c.Index} {OpNumber(c.Op)} {c.Value} {c.ValueTwo}");
                }
                sb.Append('\n');
            }
        }
        sb.Append("end\n");
        return sb.ToString();
    }

    private static int OpNumber(SeccompOperator op) => op switch
    {
        SeccompOperator.NotEqual => 1,
        SeccompOperator.LessThan => 2,
        SeccompOperator.LessOrEqual => 3,
        SeccompOperator.Equal => 4,
        SeccompOperator.GreaterOrEqual => 5,
        SeccompOperator.GreaterThan => 6,
        SeccompOperator.MaskedEqual => 7,
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    /// <summary>
    /// Reads profiles from stdin and writes each one's libseccomp BPF to the named file, doing what runc's
    /// InitSeccomp/matchCall do: native arch plus the listed ones, rules equal to the default skipped, unknown
    /// names skipped, a rule that compares one argument twice split into one rule per comparison.
    /// "profile FILE OPTIMIZE(0|1)" / "default RET" / "arch NAME" / "rule RET NAME N (INDEX OP VALUE VALUETWO)*" / "end";
    /// "repeat N" before a profile also times building and exporting it N times and prints the median.
    /// </summary>
    private const string ExporterSource = """
        #include <seccomp.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <fcntl.h>
        #include <time.h>
        #include <unistd.h>

        struct rule { unsigned int act; char name[128]; int n; int split; struct scmp_arg_cmp cmp[6]; };

        static struct rule rules[4096];
        static int nrules, narches, optimize;
        static char arches[16][64];
        static unsigned int def;

        /* what runc's InitSeccomp and matchCall do with libseccomp */
        static scmp_filter_ctx build(void)
        {
            scmp_filter_ctx ctx = seccomp_init(def);
            if (ctx == NULL) { fprintf(stderr, "seccomp_init(%#x) failed\n", def); exit(3); }
            if (optimize) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
            for (int i = 0; i < narches; i++) {
                uint32_t token = seccomp_arch_resolve_name(arches[i]);
                if (token == 0) { fprintf(stderr, "unknown arch %s\n", arches[i]); exit(3); }
                int rc = seccomp_arch_add(ctx, token);
                if (rc != 0 && rc != -17) { fprintf(stderr, "seccomp_arch_add %s: %d\n", arches[i], rc); exit(3); }
            }
            for (int r = 0; r < nrules; r++) {
                struct rule *x = &rules[r];
                if (x->act == def) continue;
                int nr = seccomp_syscall_resolve_name(x->name);
                if (nr == __NR_SCMP_ERROR) continue;
                int rc = 0;
                if (x->n == 0 || !x->split) {
                    rc = seccomp_rule_add_array(ctx, x->act, nr, x->n, x->cmp);
                } else {
                    for (int i = 0; i < x->n && rc == 0; i++) rc = seccomp_rule_add_array(ctx, x->act, nr, 1, &x->cmp[i]);
                }
                if (rc != 0) { fprintf(stderr, "seccomp_rule_add %s: %d\n", x->name, rc); exit(3); }
            }
            return ctx;
        }

        static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

        int main(void)
        {
            char word[256], file[4096];
            int repeat = 1;
            while (scanf("%255s", word) == 1) {
                if (strcmp(word, "repeat") == 0) {
                    if (scanf("%d", &repeat) != 1 || repeat < 1) return 2;
                } else if (strcmp(word, "profile") == 0) {
                    if (scanf("%4095s %d", file, &optimize) != 2) return 2;
                    nrules = narches = 0;
                } else if (strcmp(word, "default") == 0) {
                    if (scanf("%u", &def) != 1) return 2;
                } else if (strcmp(word, "arch") == 0) {
                    if (narches == 16 || scanf("%63s", arches[narches++]) != 1) return 2;
                } else if (strcmp(word, "rule") == 0) {
                    if (nrules == 4096) return 2;
                    struct rule *x = &rules[nrules++];
                    int count[6] = {0};
                    x->split = 0;
                    if (scanf("%u %127s %d", &x->act, x->name, &x->n) != 3 || x->n > 6) return 2;
                    for (int i = 0; i < x->n; i++) {
                        unsigned int idx, op; unsigned long long a, b;
                        if (scanf("%u %u %llu %llu", &idx, &op, &a, &b) != 4 || idx > 5) return 2;
                        x->cmp[i].arg = idx; x->cmp[i].op = op; x->cmp[i].datum_a = a; x->cmp[i].datum_b = b;
                        if (++count[idx] > 1) x->split = 1;
                    }
                } else if (strcmp(word, "end") == 0) {
                    if (repeat > 1) {
                        /* the whole libseccomp path, rules to BPF, timed like Berth's Compile */
                        /* wall time, and this thread's CPU time, which a loaded machine does not inflate */
                        double *t = malloc(sizeof(double) * repeat), *c = malloc(sizeof(double) * repeat);
                        int null = open("/dev/null", O_WRONLY);
                        for (int i = 0; i < repeat; i++) {
                            struct timespec a, b, ca, cb;
                            clock_gettime(CLOCK_MONOTONIC, &a);
                            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
                            scmp_filter_ctx ctx = build();
                            seccomp_export_bpf(ctx, null);
                            seccomp_release(ctx);
                            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
                            clock_gettime(CLOCK_MONOTONIC, &b);
                            t[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
                            c[i] = (cb.tv_sec - ca.tv_sec) * 1e6 + (cb.tv_nsec - ca.tv_nsec) / 1e3;
                        }
                        close(null);
                        qsort(t, repeat, sizeof(double), cmpd);
                        qsort(c, repeat, sizeof(double), cmpd);
                        printf("median_us %.1f p95_us %.1f cpu_median_us %.1f\n", t[repeat / 2], t[repeat * 95 / 100], c[repeat / 2]);
                        free(t);
                        free(c);
                        repeat = 1;
                    }
                    scmp_filter_ctx ctx = build();
                    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                    if (fd < 0) { perror(file); return 3; }
                    int rc = seccomp_export_bpf(ctx, fd);
                    close(fd);
                    if (rc != 0) { fprintf(stderr, "seccomp_export_bpf: %d\n", rc); return 3; }
                    seccomp_release(ctx);
                } else {
                    fprintf(stderr, "unexpected '%s'\n", word);
                    return 2;
                }
            }
            return 0;
        }
        """;

    /// <summary>seccomp-load FILE FLAGS CMD [ARGS...]: sets no_new_privs, installs the BPF in FILE, execs CMD.</summary>
    private const string LoaderSource = """
        #include <linux/filter.h>
        #include <linux/seccomp.h>
        #include <sys/prctl.h>
        #include <sys/syscall.h>
        #include <sys/stat.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <fcntl.h>
        #include <unistd.h>

        int main(int argc, char **argv)
        {
            if (argc < 4) { fprintf(stderr, "usage: seccomp-load FILE FLAGS CMD [ARGS...]\n"); return 125; }
            int fd = open(argv[1], O_RDONLY);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0) { perror(argv[1]); return 125; }
            struct sock_filter *filter = malloc(st.st_size);
            if (read(fd, filter, st.st_size) != st.st_size) { perror("read"); return 125; }
            close(fd);
            struct sock_fprog prog = { .len = (unsigned short)(st.st_size / sizeof(struct sock_filter)), .filter = filter };
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("prctl(PR_SET_NO_NEW_PRIVS)"); return 125; }
            if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, strtoul(argv[2], NULL, 0), &prog) != 0) { perror("seccomp"); return 125; }
            execvp(argv[3], argv + 3);
            perror(argv[3]);
            return 127;
        }
        """;
}
