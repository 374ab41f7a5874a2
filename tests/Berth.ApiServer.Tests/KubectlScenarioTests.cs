using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Berth.ApiServer.Tests;

/// <summary>
/// The real kubectl (1.32 on the PATH) against an in-process server: the scenario of issue 7. Each test works in
/// its own namespace so they can share one server.
/// </summary>
public sealed class KubectlScenarioTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static string Manifest(string ns) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Manifests", "app.yaml")).Replace("NS", ns, StringComparison.Ordinal);

    private async Task<string> Ok(string args, string? stdin = null, string? kubeconfig = null)
    {
        var r = await server.KubectlAsync(args, stdin, kubeconfig);
        Assert.True(r.ExitCode == 0, $"kubectl {args}\n{r}");
        return r.Stdout;
    }

    private async Task<ServerFixture.Result> Fails(string args, string? stdin = null, string? kubeconfig = null)
    {
        var r = await server.KubectlAsync(args, stdin, kubeconfig);
        Assert.True(r.ExitCode != 0, $"kubectl {args} should fail\n{r}");
        return r;
    }

    private async Task<JsonObject> Json(string args) => (JsonObject)JsonNode.Parse(await Ok(args + " -o json"))!;

    [Fact]
    public async Task Apply_multi_document_then_reapply_after_edit_merges_strategically()
    {
        var output = await Ok("apply -f -", Manifest("shop"));
        foreach (var line in new[] { "namespace/shop created", "configmap/web-config created", "secret/web-secret created", "deployment.apps/web created",
                     "service/web created", "customresourcedefinition.apiextensions.k8s.io/widgets.example.com" })
        {
            Assert.Contains(line, output, StringComparison.Ordinal);
        }
        var widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: shop\nspec:\n  size: 3\n  color: red\n";
        Assert.Contains("widget.example.com/w1 created", await Ok("apply -f -", widget), StringComparison.Ordinal);
        var edited = Manifest("shop").Replace("replicas: 2", "replicas: 3", StringComparison.Ordinal).Replace("value: prod", "value: staging", StringComparison.Ordinal);
        edited = edited.Remove(edited.IndexOf("      - name: sidecar", StringComparison.Ordinal), edited.IndexOf("---\napiVersion: v1\nkind: Service", StringComparison.Ordinal) - edited.IndexOf("      - name: sidecar", StringComparison.Ordinal));
        var reapplied = await Ok("apply -f -", edited);
        Assert.Contains("deployment.apps/web configured", reapplied, StringComparison.Ordinal);
        Assert.Contains("configmap/web-config unchanged", reapplied, StringComparison.Ordinal);
        var deploy = await Json("get deployment web -n shop");
        Assert.Equal(3, (int)deploy["spec"]!["replicas"]!);
        var containers = deploy["spec"]!["template"]!["spec"]!["containers"]!.AsArray();
        Assert.Single(containers);
        Assert.Equal("staging", (string)containers[0]!["env"]![0]!["value"]!);
        Assert.Equal(2, (int)deploy["metadata"]!["generation"]!);
        // Defaults as Kubernetes applies them.
        Assert.Equal("IfNotPresent", (string)containers[0]!["imagePullPolicy"]!);
        Assert.Equal("RollingUpdate", (string)deploy["spec"]!["strategy"]!["type"]!);
        var svc = await Json("get service web -n shop");
        Assert.StartsWith("10.43.", (string)svc["spec"]!["clusterIP"]!, StringComparison.Ordinal);
        var secret = await Json("get secret web-secret -n shop");
        Assert.Equal(Convert.ToBase64String("s3cret"u8.ToArray()), (string)secret["data"]!["password"]!);
        // Bad custom resource: the CRD's schema is enforced, every error listed.
        var bad = await Fails("apply -f -", widget.Replace("size: 3", "size: 0", StringComparison.Ordinal).Replace("color: red", "color: green", StringComparison.Ordinal));
        Assert.Contains("spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1", bad.Stderr, StringComparison.Ordinal);
        Assert.Contains("spec.color: Unsupported value: \"green\"", bad.Stderr, StringComparison.Ordinal);
        var cr = await Ok("get widgets -n shop");
        Assert.Matches(@"NAME\s+SIZE\s+AGE\s*\nw1\s+3\s+\d+s", cr);
        Assert.Contains("widget.example.com/w1", await Ok("get wd -n shop -o name"), StringComparison.Ordinal);
        await Ok("delete crd widgets.example.com");
        var gone = await Fails("get widgets -n shop");
        // kubectl's discovery cache may still list the resource: then the server's 404 is what it shows.
        Assert.True(gone.Stderr.Contains("the server doesn't have a resource type \"widgets\"", StringComparison.Ordinal)
            || gone.Stderr.Contains("Error from server (NotFound)", StringComparison.Ordinal), gone.ToString());
        // Re-creating the CRD does not resurrect the old custom resources.
        await Ok("apply -f -", Manifest("shop"));
        Assert.Contains("No resources found", (await server.KubectlAsync("get widgets -n shop")).Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_wide_yaml_json_and_describe()
    {
        await Ok("create namespace out");
        await Ok("apply -f -", Manifest("out").Split("---\napiVersion: apiextensions")[0]);
        var wide = await Ok("get deploy -n out -o wide");
        Assert.Matches(@"NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR", wide);
        Assert.Matches(@"web\s+0/2\s+0\s+0\s+\d+s\s+web,sidecar\s+nginx:1.25,busybox:1.36\s+app=web", wide);
        var svc = await Ok("get svc -n out");
        Assert.Matches(@"NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s*\nweb\s+ClusterIP\s+10\.43\.\d+\.\d+\s+<none>\s+80/TCP", svc);
        await Ok("apply -f -", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n  namespace: out\nspec:\n  containers:\n  - name: c\n    image: busybox\n");
        Assert.Matches(@"NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s*\np1\s+0/1\s+Pending\s+0\s+\d+s", await Ok("get pods -n out"));
        var yaml = await Ok("get configmap web-config -n out -o yaml");
        Assert.Contains("greeting: hello", yaml, StringComparison.Ordinal);
        Assert.Contains("resourceVersion:", yaml, StringComparison.Ordinal);
        var json = await Json("get configmaps -n out");
        Assert.Equal("List", (string)json["kind"]!);
        Assert.Contains(json["items"]!.AsArray(), i => (string)i!["metadata"]!["name"]! == "web-config");
        var describe = await Ok("describe deployment web -n out");
        Assert.Contains("Replicas:               2 desired", describe, StringComparison.Ordinal);
        Assert.Contains("MODE:  prod", describe, StringComparison.Ordinal);
        Assert.Contains("Image:", await Ok("describe pod p1 -n out"), StringComparison.Ordinal);
        Assert.Contains("No resources found in out namespace.", (await server.KubectlAsync("get jobs -n out")).Stderr, StringComparison.Ordinal);
        var missing = await Fails("get deploy nope -n out");
        Assert.Contains("Error from server (NotFound): deployments.apps \"nope\" not found", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_watch_streams_changes()
    {
        await Ok("create namespace watch");
        var psi = new ProcessStartInfo("kubectl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--kubeconfig", server.Kubeconfig, "get", "configmaps", "-n", "watch", "-w" })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        try
        {
            var lines = new List<string>();
            var reader = Task.Run(async () =>
            {
                while (await p.StandardOutput.ReadLineAsync() is { } line)
                {
                    lock (lines)
                    {
                        lines.Add(line);
                    }
                }
            });
            await WaitForAsync(() => lines.Any(l => l.StartsWith("kube-root-ca.crt", StringComparison.Ordinal)), "initial list");
            await Ok("create configmap streamed -n watch --from-literal=a=1");
            await WaitForAsync(() => lines.Any(l => l.StartsWith("streamed", StringComparison.Ordinal)), "the new configmap");
            await Ok("label configmap streamed -n watch x=y");
            await WaitForAsync(() => lines.Count(l => l.StartsWith("streamed", StringComparison.Ordinal)) >= 2, "the label change");
            Assert.Matches(@"NAME\s+DATA\s+AGE", lines[0]);
        }
        finally
        {
            p.Kill(true);
            await p.WaitForExitAsync();
        }

        async Task WaitForAsync(Func<bool> condition, string what)
        {
            for (var i = 0; i < 200; i++)
            {
                bool ok;
                lock (psi)
                {
                    ok = condition();
                }
                if (ok)
                {
                    return;
                }
                await Task.Delay(50);
            }
            Assert.Fail("kubectl get -w never showed " + what + ": " + await Task.FromResult(p.HasExited ? p.StandardError.ReadToEnd() : ""));
        }
    }

    [Fact]
    public async Task Label_annotate_patch_and_scale()
    {
        await Ok("create namespace edits");
        await Ok("apply -f -", Manifest("edits").Split("---\napiVersion: apiextensions")[0]);
        Assert.Contains("deployment.apps/web labeled", await Ok("label deployment web -n edits tier=frontend"), StringComparison.Ordinal);
        Assert.Contains("deployment.apps/web annotated", await Ok("annotate deployment web -n edits note=hello"), StringComparison.Ordinal);
        await Ok("patch deployment web -n edits --type merge -p '{\"spec\":{\"replicas\":4}}'");
        await Ok("patch deployment web -n edits --type json -p '[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"nginx:1.26\"}]'");
        await Ok("patch deployment web -n edits --type strategic -p '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"env\":[{\"name\":\"EXTRA\",\"value\":\"1\"}]}]}}}}'");
        Assert.Contains("deployment.apps/web scaled", await Ok("scale deployment web -n edits --replicas=5"), StringComparison.Ordinal);
        var d = await Json("get deployment web -n edits");
        Assert.Equal("frontend", (string)d["metadata"]!["labels"]!["tier"]!);
        Assert.Equal("hello", (string)d["metadata"]!["annotations"]!["note"]!);
        Assert.Equal(5, (int)d["spec"]!["replicas"]!);
        var containers = d["spec"]!["template"]!["spec"]!["containers"]!.AsArray();
        Assert.Equal(2, containers.Count);
        Assert.Equal("nginx:1.26", (string)containers[0]!["image"]!);
        Assert.Equal(["MODE", "EXTRA"], containers[0]!["env"]!.AsArray().Select(e => (string)e!["name"]!));
        // Strategic merge by the upstream keys: a port merged by containerPort, a container deleted with $patch.
        await Ok("patch deployment web -n edits -p '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"ports\":[{\"containerPort\":80,\"name\":\"http\"}]},{\"name\":\"sidecar\",\"$patch\":\"delete\"}]}}}}'");
        d = await Json("get deployment web -n edits");
        containers = d["spec"]!["template"]!["spec"]!["containers"]!.AsArray();
        Assert.Single(containers);
        Assert.Equal("http", (string)containers[0]!["ports"]![0]!["name"]!);
        Assert.Single(containers[0]!["ports"]!.AsArray());
        var scale = JsonNode.Parse(await Ok("get --raw /apis/apps/v1/namespaces/edits/deployments/web/scale"))!;
        Assert.Equal(5, (int)scale["spec"]!["replicas"]!);
        Assert.Equal("app=web", (string)scale["status"]!["selector"]!);
        // A stale update is a 409 with Kubernetes' message.
        var stale = (JsonObject)d.DeepClone();
        stale["metadata"]!["resourceVersion"] = "1";
        var conflict = await Fails("replace -f -", stale.ToJsonString());
        Assert.Contains("the object has been modified; please apply your changes to the latest version and try again", conflict.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Imperative_create_commands_sent_as_protobuf()
    {
        await Ok("create namespace imp");
        Assert.Contains("deployment.apps/web created", await Ok("create deployment web -n imp --image=nginx:1.25 --replicas=0 --port=80"), StringComparison.Ordinal);
        var d = await Json("get deployment web -n imp");
        Assert.Equal(0, (int)d["spec"]!["replicas"]!);
        Assert.Equal("web", (string)d["spec"]!["selector"]!["matchLabels"]!["app"]!);
        Assert.Equal(80, (int)d["spec"]!["template"]!["spec"]!["containers"]![0]!["ports"]![0]!["containerPort"]!);
        Assert.Contains("service/web exposed", await Ok("expose deployment web -n imp --port=8080 --target-port=80"), StringComparison.Ordinal);
        var svc = await Json("get service web -n imp");
        Assert.Equal(80, (int)svc["spec"]!["ports"]![0]!["targetPort"]!);
        await Ok("create service nodeport np -n imp --tcp=80:8080");
        var np = (int)(await Json("get service np -n imp"))["spec"]!["ports"]![0]!["nodePort"]!;
        Assert.InRange(np, 30000, 32767);
        Assert.Matches(@"np\s+NodePort\s+10\.43\.\d+\.\d+\s+<none>\s+80:" + np + "/TCP", await Ok("get svc np -n imp"));
        await Ok("create job j1 -n imp --image=busybox -- echo hi");
        Assert.Equal(["echo", "hi"], (await Json("get job j1 -n imp"))["spec"]!["template"]!["spec"]!["containers"]![0]!["command"]!.AsArray().Select(c => (string)c!));
        await Ok("create cronjob cj -n imp --image=busybox --schedule=*/5_*_*_*_*".Replace("_", " ", StringComparison.Ordinal).Replace("--schedule=*/5 * * * *", "--schedule='*/5 * * * *'", StringComparison.Ordinal));
        Assert.Matches(@"cj\s+\*/5 \* \* \* \*\s+<none>\s+False\s+0", await Ok("get cronjobs -n imp"));
        await Ok("create role reader -n imp --verb=get,list --resource=pods");
        await Ok("create clusterrole node-reader --verb=get --resource=nodes");
        var role = await Json("get role reader -n imp");
        Assert.Equal(["get", "list"], role["rules"]![0]!["verbs"]!.AsArray().Select(v => (string)v!));
    }

    [Fact]
    public async Task Server_side_apply_owns_fields_and_reports_conflicts()
    {
        await Ok("create namespace ssa");
        var cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: ssa\ndata:\n  a: \"1\"\n  b: \"2\"\n";
        Assert.Contains("configmap/cfg serverside-applied", await Ok("apply --server-side -f -", cm), StringComparison.Ordinal);
        await Ok("apply --server-side -f -", cm.Replace("  b: \"2\"\n", "  c: \"3\"\n", StringComparison.Ordinal));
        var obj = await Json("get configmap cfg -n ssa --show-managed-fields");
        Assert.Null(obj["data"]!["b"]);
        Assert.Equal("3", (string)obj["data"]!["c"]!);
        var mf = obj["metadata"]!["managedFields"]!.AsArray().Single(m => (string)m!["manager"]! == "kubectl");
        Assert.Equal("Apply", (string)mf!["operation"]!);
        Assert.NotNull(mf["fieldsV1"]!["f:data"]!["f:c"]);
        await Ok("patch configmap cfg -n ssa --type merge -p '{\"data\":{\"a\":\"other\"}}'");
        var conflict = await Fails("apply --server-side -f -", cm.Replace("  b: \"2\"\n", "  c: \"3\"\n", StringComparison.Ordinal));
        Assert.Contains("Apply failed with 1 conflict: conflict with \"kubectl-patch\" using v1: .data.a", conflict.Stderr, StringComparison.Ordinal);
        await Ok("apply --server-side --force-conflicts -f -", cm.Replace("  b: \"2\"\n", "  c: \"3\"\n", StringComparison.Ordinal));
        Assert.Equal("1", (string)(await Json("get configmap cfg -n ssa"))["data"]!["a"]!);
    }

    [Fact]
    public async Task Explain_and_api_resources()
    {
        var explain = await Ok("explain deployment.spec.replicas");
        Assert.Contains("KIND:       Deployment", explain, StringComparison.Ordinal);
        Assert.Contains("FIELD: replicas <integer>", explain, StringComparison.Ordinal);
        var containers = await Ok("explain pod.spec.containers");
        Assert.Contains("<[]Container>", containers, StringComparison.Ordinal);
        Assert.Contains("imagePullPolicy", containers, StringComparison.Ordinal);
        var resources = await Ok("api-resources");
        Assert.Matches(@"deployments\s+deploy\s+apps/v1\s+true\s+Deployment", resources);
        Assert.Matches(@"pods\s+po\s+v1\s+true\s+Pod", resources);
        Assert.Matches(@"customresourcedefinitions\s+crd,crds\s+apiextensions.k8s.io/v1\s+false\s+CustomResourceDefinition", resources);
        Assert.Contains("Server Version: v1.32.0", await Ok("version"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_cascades_through_owner_references()
    {
        await Ok("create namespace gc");
        async Task<string> Uid(string what) => (string)(await Json("get " + what + " -n gc"))["metadata"]!["uid"]!;
        string Child(string name, string ownerUid) => $$$"""
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{{name}}}","namespace":"gc",
             "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{{{ownerUid}}}","blockOwnerDeletion":true}]}}
            """;
        foreach (var mode in new[] { "background", "orphan", "foreground" })
        {
            await Ok("create configmap owner -n gc");
            await Ok("apply -f -", Child("child-" + mode, await Uid("configmap owner")));
            Assert.Contains("configmap \"owner\" deleted", await Ok($"delete configmap owner -n gc --cascade={mode}"), StringComparison.Ordinal);
            var child = await WaitAsync(async () =>
            {
                var r = await server.KubectlAsync($"get configmap child-{mode} -n gc -o json");
                var gone = r.Stderr.Contains("NotFound", StringComparison.Ordinal);
                if (mode == "orphan")
                {
                    return !gone && JsonNode.Parse(r.Stdout)!["metadata"]!["ownerReferences"] is null ? "orphaned" : null;
                }
                return gone ? "deleted" : null;
            });
            Assert.Equal(mode == "orphan" ? "orphaned" : "deleted", child);
        }
        Assert.Contains("namespace \"gc\" deleted", await Ok("delete namespace gc"), StringComparison.Ordinal);
        Assert.Contains("NotFound", (await server.KubectlAsync("get namespace gc")).Stderr, StringComparison.Ordinal);
    }

    private static async Task<string> WaitAsync(Func<Task<string?>> probe)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await probe() is { } result)
            {
                return result;
            }
            await Task.Delay(100);
        }
        return "timed out";
    }

    [Fact]
    public async Task Auth_can_i_and_a_user_without_rights_gets_403()
    {
        Assert.Equal("yes", (await Ok("auth can-i create deployments")).Trim());
        var alice = server.KubeconfigFor("alice", "developers");
        var forbidden = await Fails("get pods -n default", kubeconfig: alice);
        Assert.Contains("Error from server (Forbidden): pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"", forbidden.Stderr, StringComparison.Ordinal);
        var noCan = await server.KubectlAsync("auth can-i list pods -n default", kubeconfig: alice);
        Assert.Equal("no", noCan.Stdout.Trim());
        await Ok("create rolebinding alice-view -n default --clusterrole=view --user=alice".Replace("create rolebinding", "create rolebinding", StringComparison.Ordinal), null);
        Assert.Equal("yes", (await Ok("auth can-i list pods -n default", kubeconfig: alice)).Trim());
        Assert.Equal("no", (await server.KubectlAsync("auth can-i delete pods -n default", kubeconfig: alice)).Stdout.Trim());
        await Ok("get pods -n default", kubeconfig: alice);
        var group = await Fails("create configmap x -n default", kubeconfig: alice);
        Assert.Contains("configmaps is forbidden: User \"alice\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\"", group.Stderr, StringComparison.Ordinal);
        Assert.Contains("alice", await Ok("auth whoami", kubeconfig: alice), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_input_gets_kubernetes_status_messages()
    {
        await Ok("create namespace bad");
        var invalid = await Fails("apply -f -", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: Bad_Name\n  namespace: bad\nspec:\n  selector:\n    matchLabels:\n      app: x\n  template:\n    metadata:\n      labels:\n        app: other\n    spec:\n      containers:\n      - name: c\n");
        Assert.Contains("The Deployment \"Bad_Name\" is invalid", invalid.Stderr, StringComparison.Ordinal);
        Assert.Contains("metadata.name: Invalid value: \"Bad_Name\"", invalid.Stderr, StringComparison.Ordinal);
        Assert.Contains("spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`", invalid.Stderr, StringComparison.Ordinal);
        Assert.Contains("spec.template.spec.containers[0].image: Required value", invalid.Stderr, StringComparison.Ordinal);
        var unknown = await Fails("apply -f -", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: u\n  namespace: bad\ndata:\n  a: b\nbogus: 1\n");
        Assert.Contains("unknown field \"bogus\"", unknown.Stderr, StringComparison.Ordinal);
        var missingNs = await Fails("create configmap x -n does-not-exist");
        Assert.Contains("namespaces \"does-not-exist\" not found", missingNs.Stderr, StringComparison.Ordinal);
        await Ok("create configmap dup -n bad");
        Assert.Contains("configmaps \"dup\" already exists", (await Fails("create configmap dup -n bad")).Stderr, StringComparison.Ordinal);
        Assert.Contains("configmaps \"gone\" not found", (await Fails("delete configmap gone -n bad")).Stderr, StringComparison.Ordinal);
        var dryRun = await Ok("create configmap dry -n bad --dry-run=server");
        Assert.Contains("configmap/dry created (server dry run)", dryRun, StringComparison.Ordinal);
        Assert.Contains("NotFound", (await server.KubectlAsync("get configmap dry -n bad")).Stderr, StringComparison.Ordinal);
    }
}
