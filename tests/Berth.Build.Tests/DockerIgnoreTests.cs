using Berth.Core;
using Berth.Testing;

namespace Berth.Build.Tests;

public class DockerIgnoreTests
{
    [Theory]
    [InlineData("*.md", "README.md", true)]
    [InlineData("*.md", "docs/README.md", false)]
    [InlineData("**/*.md", "docs/a/README.md", true)]
    [InlineData("**/*.md", "README.md", true)]
    [InlineData("docs", "docs", true)]
    [InlineData("docs", "docs/a/b.txt", true)]
    [InlineData("docs/", "docs/a", true)]
    [InlineData("/docs", "docs/a", true)]
    [InlineData("./docs", "docs/a", true)]
    [InlineData("docs/../build", "build/x", true)]
    [InlineData("temp?", "temp1", true)]
    [InlineData("temp?", "temp12", false)]
    [InlineData("temp?", "temp/", false)]
    [InlineData("[a-c].txt", "b.txt", true)]
    [InlineData("[a-c].txt", "d.txt", false)]
    [InlineData("[^a].txt", "b.txt", true)]
    [InlineData("[^a].txt", "a.txt", false)]
    [InlineData("node_modules", "node_modules/x/y", true)]
    [InlineData("node_modules", "src/node_modules", false)]
    [InlineData("**/node_modules", "src/node_modules/x", true)]
    [InlineData("foo/**", "foo/bar", true)]
    [InlineData("foo/**", "foo", false)]
    [InlineData("foo/**/bar", "foo/bar", true)]
    [InlineData("foo/**/bar", "foo/x/y/bar", true)]
    [InlineData("foo/**/bar", "foo/x/ybar", false)]
    [InlineData("dir/*.log", "dir/x.log", true)]
    [InlineData("dir/*.log", "dir/sub/x.log", false)]
    [InlineData("**", "any/thing", true)]
    [InlineData("  spaced  ", "spaced", true)]
    [InlineData("a\\*b", "a*b", true)]
    [InlineData("a\\*b", "axb", false)]
    [InlineData("a.b", "axb", false)]
    [InlineData("(x)+", "(x)+", true)]
    [InlineData("# comment", "# comment", false)]
    [InlineData("*", "Dockerfile", true)]
    public void Single_pattern(string pattern, string path, bool excluded)
    {
        Assert.Equal(excluded, DockerIgnore.Parse(pattern).IsExcluded(path));
    }

    [Theory]
    [InlineData("*\n!keep", "keep", false)]
    [InlineData("*\n!keep", "other", true)]
    [InlineData("docs\n!docs/keep.md", "docs/keep.md", false)]
    [InlineData("docs\n!docs/keep.md", "docs/other.md", true)]
    [InlineData("!docs/keep.md\ndocs", "docs/keep.md", true)]
    [InlineData("*.md\n!README.md\nREADME.md", "README.md", true)]
    [InlineData("*.md\n! README.md", "README.md", false)]
    [InlineData("**/*.go\n!vendor/**", "vendor/a/b.go", false)]
    [InlineData("# ignore logs\n*.log\n\n!important.log", "important.log", false)]
    [InlineData("# ignore logs\n*.log\n\n!important.log", "x.log", true)]
    [InlineData("a\r\n!a/b\r\n", "a/b", false)]
    public void Patterns_in_order_last_match_wins(string text, string path, bool excluded)
    {
        Assert.Equal(excluded, DockerIgnore.Parse(text).IsExcluded(path));
    }

    [Theory]
    [InlineData("ok\n[", ".dockerignore:2: bad pattern \"[\": syntax error in pattern")]
    [InlineData("!", ".dockerignore:1: illegal exclusion pattern: \"!\"")]
    [InlineData("a\\", ".dockerignore:1: bad pattern \"a\\\": syntax error in pattern")]
    public void Bad_patterns_name_their_line(string text, string message)
    {
        Assert.Equal(message, Assert.Throws<DockerfileException>(() => DockerIgnore.Parse(text)).Message);
    }

    private static void Write(TempDirectory dir, string rel, string content = "x")
    {
        var path = dir.Combine(rel);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    [Fact]
    public void Context_walker_lists_what_copy_dot_would_copy()
    {
        using var dir = new TempDirectory();
        Write(dir, "Dockerfile");
        Write(dir, ".dockerignore", "*.log\nbuild\n!build/keep.txt\nnode_modules\n.git\n");
        Write(dir, "app.log");
        Write(dir, "src/main.c");
        Write(dir, "src/debug.log");
        Write(dir, "build/a.o");
        Write(dir, "build/keep.txt");
        Write(dir, "node_modules/x/index.js");
        Write(dir, ".git/HEAD");
        File.CreateSymbolicLink(dir.Combine("link"), "src/main.c");

        var tree = SourceTree.OpenContext(dir.Path);
        var paths = tree.Entries().Select(e => e.Path + (e.Type == SourceEntryType.Directory ? "/" : e.Type == SourceEntryType.Symlink ? "@" : string.Empty));
        Assert.Equal([".dockerignore", "Dockerfile", "build/", "build/keep.txt", "link@", "src/", "src/debug.log", "src/main.c"], paths);
    }

    [Fact]
    public void Dockerfile_specific_ignore_file_wins()
    {
        using var dir = new TempDirectory();
        Write(dir, ".dockerignore", "a");
        Write(dir, "sub/app.Dockerfile", "FROM x");
        Write(dir, "sub/app.Dockerfile.dockerignore", "b");
        var ignore = DockerIgnore.Load(dir.Path, dir.Combine("sub/app.Dockerfile"));
        Assert.False(ignore.IsExcluded("a"));
        Assert.True(ignore.IsExcluded("b"));
        Assert.True(DockerIgnore.Load(dir.Path).IsExcluded("a"));
        Assert.Empty(DockerIgnore.Load(dir.Combine("sub")).Patterns);
    }

    [Fact]
    public void Sources_resolve_with_globs_relative_to_the_context()
    {
        using var dir = new TempDirectory();
        Write(dir, "a.txt");
        Write(dir, "b.txt");
        Write(dir, "c.md");
        Write(dir, "src/x/main.go");
        Write(dir, "src/y/main.go");
        Write(dir, "src/y/skip.go");
        Write(dir, "secret.txt");
        Write(dir, ".dockerignore", "secret.txt");
        var tree = SourceTree.OpenContext(dir.Path);

        Assert.Equal(["a.txt", "b.txt"], tree.Resolve("*.txt", "COPY").Select(e => e.Path));
        Assert.Equal(["src/x/main.go", "src/y/main.go"], tree.Resolve("src/*/main.go", "COPY").Select(e => e.Path));
        Assert.Equal(["src/x/main.go", "src/y/main.go", "src/y/skip.go"], tree.Resolve("/src/?/*.go", "COPY").Select(e => e.Path));
        Assert.Equal(["c.md"], tree.Resolve("../../c.md", "COPY").Select(e => e.Path));
        Assert.Equal(".", Assert.Single(tree.Resolve(".", "COPY")).Path);
        Assert.Equal(SourceEntryType.Directory, Assert.Single(tree.Resolve("src", "COPY")).Type);

        var missing = Assert.Throws<BerthException>(() => tree.Resolve("secret.txt", "COPY"));
        Assert.Equal(ErrorCode.NotFound, missing.Code);
        Assert.Equal("COPY: \"secret.txt\" not found in the build context (is it excluded by .dockerignore?)", missing.Message);
        Assert.Equal("COPY: no files match \"*.rs\" in the build context (is it excluded by .dockerignore?)",
            Assert.Throws<BerthException>(() => tree.Resolve("*.rs", "COPY")).Message);
    }

    [Fact]
    public void Checksum_covers_content_mode_and_names_but_not_times()
    {
        using var dir = new TempDirectory();
        Write(dir, "src/a.c", "int a;");
        Write(dir, "src/b.c", "int b;");
        Write(dir, "other.txt", "unrelated");
        var tree = new SourceTree(dir.Path);
        string Sum() => SourceTree.Checksum(tree.Resolve("src", "COPY").Select(e => (tree, e)));

        var first = Sum();
        Assert.StartsWith("sha256:", first, StringComparison.Ordinal);
        File.SetLastWriteTimeUtc(dir.Combine("src/a.c"), DateTime.UtcNow.AddDays(-3));
        Assert.Equal(first, Sum());

        File.WriteAllText(dir.Combine("other.txt"), "changed elsewhere");
        Assert.Equal(first, Sum());

        File.WriteAllText(dir.Combine("src/a.c"), "int a = 1;");
        var changed = Sum();
        Assert.NotEqual(first, changed);

        File.SetUnixFileMode(dir.Combine("src/a.c"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Assert.NotEqual(changed, Sum());

        File.Move(dir.Combine("src/b.c"), dir.Combine("src/c.c"));
        Assert.NotEqual(changed, Sum());
    }

    [Fact]
    public void Checksum_includes_owners_of_stage_files()
    {
        using var dir = new TempDirectory();
        Write(dir, "f", "same");
        var owners = new RecordingOwnership();
        var tree = new SourceTree(dir.Path, null, owners);
        var before = SourceTree.Checksum([(tree, tree.Resolve("f", "COPY")[0])]);
        owners.SetOwner(dir.Combine("f"), 1000, 1000);
        var after = SourceTree.Checksum([(tree, tree.Resolve("f", "COPY")[0])]);
        Assert.NotEqual(before, after);
    }

    [Theory]
    [InlineData("a/b/../c", "a/c")]
    [InlineData("/../x", "/x")]
    [InlineData("../x", "../x")]
    [InlineData("./", ".")]
    [InlineData("", ".")]
    [InlineData("a//b/", "a/b")]
    [InlineData("/", "/")]
    public void Go_path_clean(string path, string expected) => Assert.Equal(expected, PathRules.Clean(path));

    [Fact]
    public void Secure_join_keeps_links_inside_the_root()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("usr/lib"));
        File.CreateSymbolicLink(dir.Combine("lib"), "/usr/lib");
        File.CreateSymbolicLink(dir.Combine("escape"), "../../../../etc");
        File.CreateSymbolicLink(dir.Combine("abs"), "/etc");
        Assert.Equal(dir.Combine("usr/lib/x"), PathRules.SecureJoin(dir.Path, "lib/x"));
        Assert.Equal(dir.Combine("etc/passwd"), PathRules.SecureJoin(dir.Path, "escape/passwd"));
        Assert.Equal(dir.Combine("etc/passwd"), PathRules.SecureJoin(dir.Path, "abs/passwd"));
        Assert.Equal(dir.Combine("abs"), PathRules.SecureJoin(dir.Path, "abs", followLast: false));
        Assert.Equal(dir.Combine("x"), PathRules.SecureJoin(dir.Path, "../../x"));
    }
}
