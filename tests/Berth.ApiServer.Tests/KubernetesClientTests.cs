using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Berth.ApiServer.Tests;

/// <summary>The official C# KubernetesClient against the server: paging, watch resume, 410 after compaction, conflicts.</summary>
public sealed class KubernetesClientTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private Kubernetes Client() => new(KubernetesClientConfiguration.BuildConfigFromConfigFile(server.Kubeconfig));

    private static async Task<string> NamespaceAsync(Kubernetes client, string prefix)
    {
        var ns = await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { GenerateName = prefix + "-" } });
        Assert.StartsWith(prefix + "-", ns.Metadata.Name, StringComparison.Ordinal);
        return ns.Metadata.Name;
    }

    [Fact]
    public async Task List_pages_with_limit_and_continue_and_filters_by_label()
    {
        using var client = Client();
        var ns = await NamespaceAsync(client, "paging");
        for (var i = 0; i < 25; i++)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
            {
                Metadata = new V1ObjectMeta { Name = $"cm-{i:D2}", Labels = new Dictionary<string, string> { ["parity"] = i % 2 == 0 ? "even" : "odd" } },
                Data = new Dictionary<string, string> { ["i"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            }, ns);
        }
        var names = new List<string>();
        string? token = null;
        var pages = 0;
        string? firstRv = null;
        do
        {
            var page = await client.CoreV1.ListNamespacedConfigMapAsync(ns, limit: 10, continueParameter: token, labelSelector: "parity");
            firstRv ??= page.Metadata.ResourceVersion;
            names.AddRange(page.Items.Select(i => i.Metadata.Name));
            token = page.Metadata.ContinueProperty;
            pages++;
            // A consistent snapshot: every page reports the first page's revision.
            Assert.Equal(firstRv, page.Metadata.ResourceVersion);
            // Created between pages: not in this list.
            if (pages == 1)
            {
                await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cm-late", Labels = new Dictionary<string, string> { ["parity"] = "x" } } }, ns);
            }
        }
        while (!string.IsNullOrEmpty(token));
        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"cm-{i:D2}"), names);
        var odd = await client.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: "parity=odd");
        Assert.Equal(12, odd.Items.Count);
        var inSet = await client.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: "parity in (even,x),!missing");
        Assert.Equal(14, inSet.Items.Count);
        var byName = await client.CoreV1.ListNamespacedConfigMapAsync(ns, fieldSelector: "metadata.name=cm-07");
        Assert.Equal("cm-07", Assert.Single(byName.Items).Metadata.Name);
        var bad = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ListNamespacedConfigMapAsync(ns, fieldSelector: "data.i=1"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.Response.StatusCode);
        Assert.Contains("field label not supported: data.i", bad.Response.Content, StringComparison.Ordinal);

        // Without selectors a page reads one item past itself: a continue token only while items remain. The namespace
        // controller adds kube-root-ca.crt concurrently: counted once it is there, so the count holds for the lists below.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await client.CoreV1.ListNamespacedConfigMapAsync(ns, fieldSelector: "metadata.name=kube-root-ca.crt")).Items.Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the namespace controller did not create kube-root-ca.crt within 20 s");
            await Task.Delay(50);
        }
        var total = (await client.CoreV1.ListNamespacedConfigMapAsync(ns)).Items.Count;
        var whole = await client.CoreV1.ListNamespacedConfigMapAsync(ns, limit: total);
        Assert.Equal(total, whole.Items.Count);
        Assert.True(string.IsNullOrEmpty(whole.Metadata.ContinueProperty));
        var first = await client.CoreV1.ListNamespacedConfigMapAsync(ns, limit: total - 1);
        Assert.Equal(total - 1, first.Items.Count);
        Assert.False(string.IsNullOrEmpty(first.Metadata.ContinueProperty));
        var last = await client.CoreV1.ListNamespacedConfigMapAsync(ns, limit: total - 1, continueParameter: first.Metadata.ContinueProperty);
        Assert.Equal(whole.Items[^1].Metadata.Name, Assert.Single(last.Items).Metadata.Name);
        Assert.True(string.IsNullOrEmpty(last.Metadata.ContinueProperty));
    }

    [Fact]
    public async Task Watch_resumes_from_a_resource_version()
    {
        using var client = Client();
        var ns = await NamespaceAsync(client, "watch");
        var a = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "a" } }, ns);
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "b" } }, ns);
        a.Data = new Dictionary<string, string> { ["k"] = "v" };
        await client.CoreV1.ReplaceNamespacedConfigMapAsync(a, "a", ns);
        await client.CoreV1.DeleteNamespacedConfigMapAsync("b", ns);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var events = new List<(WatchEventType, string)>();
        await foreach (var (type, item) in client.CoreV1.WatchListNamespacedConfigMapAsync(ns, resourceVersion: a.Metadata.ResourceVersion, cancellationToken: cts.Token))
        {
            if (item.Metadata.Name == "kube-root-ca.crt")
            {
                // Created by the namespace controller, concurrently with this test.
                continue;
            }
            events.Add((type, item.Metadata.Name));
            if (events.Count == 3)
            {
                break;
            }
        }
        Assert.Equal([(WatchEventType.Added, "b"), (WatchEventType.Modified, "a"), (WatchEventType.Deleted, "b")], events);
    }

    [Fact]
    public async Task Watch_from_a_compacted_revision_gets_410_gone()
    {
        using var client = Client();
        var ns = await NamespaceAsync(client, "gone");
        var cm = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "c" } }, ns);
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "d" } }, ns);
        var old = cm.Metadata.ResourceVersion;
        for (var i = 0; i < 3; i++)
        {
            cm.Data = new Dictionary<string, string> { ["i"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            cm = await client.CoreV1.ReplaceNamespacedConfigMapAsync(cm, "c", ns);
        }
        var page = await client.CoreV1.ListNamespacedConfigMapAsync(ns, limit: 1);
        Assert.NotNull(page.Metadata.ContinueProperty);
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "after" } }, ns);
        await server.Host.CompactAsync(await server.Store.CurrentRevisionAsync());
        // Compacted in the store and out of the watch window: Kubernetes answers 410 Gone.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Exception? error = null;
        var received = 0;
        await foreach (var _ in client.CoreV1.WatchListNamespacedConfigMapAsync(ns, resourceVersion: "1", onError: e => error = e, cancellationToken: cts.Token))
        {
            received++;
        }
        Assert.Equal(0, received);
        var status = Assert.IsType<KubernetesException>(error).Status;
        Assert.Equal(410, status.Code);
        Assert.Equal("Expired", status.Reason);
        Assert.StartsWith("too old resource version: 1", status.Message, StringComparison.Ordinal);
        var expired = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ListNamespacedConfigMapAsync(ns, limit: 1, continueParameter: page.Metadata.ContinueProperty));
        Assert.Equal(HttpStatusCode.Gone, expired.Response.StatusCode);
        Assert.NotNull(old);
    }

    [Fact]
    public async Task Stale_update_is_a_409_conflict_and_create_twice_is_already_exists()
    {
        using var client = Client();
        var ns = await NamespaceAsync(client, "cas");
        var cm = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x" } }, ns);
        var first = await client.CoreV1.ReplaceNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x", ResourceVersion = cm.Metadata.ResourceVersion }, Data = new Dictionary<string, string> { ["a"] = "1" } }, "x", ns);
        Assert.NotEqual(cm.Metadata.ResourceVersion, first.Metadata.ResourceVersion);
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReplaceNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x", ResourceVersion = cm.Metadata.ResourceVersion }, Data = new Dictionary<string, string> { ["a"] = "2" } }, "x", ns));
        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        var status = KubernetesJson.Deserialize<V1Status>(e.Response.Content);
        Assert.Equal("Conflict", status.Reason);
        Assert.Equal("Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again", status.Message);
        var exists = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x" } }, ns));
        Assert.Equal(HttpStatusCode.Conflict, exists.Response.StatusCode);
        Assert.Equal("AlreadyExists", KubernetesJson.Deserialize<V1Status>(exists.Response.Content).Reason);
        Assert.Equal("1", (await client.CoreV1.ReadNamespacedConfigMapAsync("x", ns)).Data["a"]);
    }

    [Fact]
    public async Task Admission_sees_a_quota_and_a_namespace_deletion_the_moment_they_are_written()
    {
        // Admission reads namespaces and quotas from in-memory caches; a write this server made must count at once.
        using var client = Client();
        var ns = await NamespaceAsync(client, "admit");
        await client.CoreV1.CreateNamespacedResourceQuotaAsync(new V1ResourceQuota
        {
            Metadata = new V1ObjectMeta { Name = "no-secrets" },
            Spec = new V1ResourceQuotaSpec { Hard = new Dictionary<string, ResourceQuantity> { ["secrets"] = new("0") } },
        }, ns);
        var quota = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "s" } }, ns));
        Assert.Equal(HttpStatusCode.Forbidden, quota.Response.StatusCode);
        Assert.Contains("exceeded quota: no-secrets", KubernetesJson.Deserialize<V1Status>(quota.Response.Content).Message, StringComparison.Ordinal);

        await client.CoreV1.DeleteNamespaceAsync(ns);
        var terminating = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "late" } }, ns));
        // Refused as terminating; or, if the namespace controller already emptied and removed it, as not found.
        if (terminating.Response.StatusCode != HttpStatusCode.NotFound)
        {
            Assert.Equal(HttpStatusCode.Forbidden, terminating.Response.StatusCode);
            Assert.Contains("because it is being terminated", KubernetesJson.Deserialize<V1Status>(terminating.Response.Content).Message, StringComparison.Ordinal);
        }

        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x" } }, "never-created"));
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);
    }

    [Fact]
    public async Task Validation_defaults_generation_and_status_subresource()
    {
        using var client = Client();
        var ns = await NamespaceAsync(client, "typed");
        var invalid = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.CreateNamespacedDeploymentAsync(new V1Deployment
        {
            Metadata = new V1ObjectMeta { Name = "d" },
            Spec = new V1DeploymentSpec { Template = new V1PodTemplateSpec { Spec = new V1PodSpec { Containers = [new V1Container { Name = "Bad" }] } } },
        }, ns));
        Assert.Equal((HttpStatusCode)422, invalid.Response.StatusCode);
        var status = KubernetesJson.Deserialize<V1Status>(invalid.Response.Content);
        var fields = status.Details.Causes.Select(c => c.Field).ToList();
        Assert.Contains("spec.selector", fields);
        Assert.Contains("spec.template.spec.containers[0].name", fields);
        Assert.Contains("spec.template.spec.containers[0].image", fields);
        var labels = new Dictionary<string, string> { ["app"] = "d" };
        var d = await client.AppsV1.CreateNamespacedDeploymentAsync(new V1Deployment
        {
            Metadata = new V1ObjectMeta { Name = "d" },
            Spec = new V1DeploymentSpec
            {
                Selector = new V1LabelSelector { MatchLabels = labels },
                Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = labels }, Spec = new V1PodSpec { Containers = [new V1Container { Name = "c", Image = "busybox" }] } },
            },
        }, ns);
        Assert.Equal(1, d.Spec.Replicas);
        Assert.Equal(1, d.Metadata.Generation);
        Assert.Equal("Always", d.Spec.Template.Spec.Containers[0].ImagePullPolicy);
        d.Status = new V1DeploymentStatus { Replicas = 1, ObservedGeneration = 1 };
        var withStatus = await client.AppsV1.ReplaceNamespacedDeploymentStatusAsync(d, "d", ns);
        Assert.Equal(1, withStatus.Status.ObservedGeneration);
        Assert.Equal(1, withStatus.Metadata.Generation);
        withStatus.Spec.Replicas = 3;
        withStatus.Status.Replicas = 99;
        var updated = await client.AppsV1.ReplaceNamespacedDeploymentAsync(withStatus, "d", ns);
        Assert.Equal(2, updated.Metadata.Generation);
        Assert.Equal(1, updated.Status.Replicas);
        var dry = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "dry" } }, ns, dryRun: "All");
        Assert.Equal("dry", dry.Metadata.Name);
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReadNamespacedConfigMapAsync("dry", ns));
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);
    }

    [Fact]
    public async Task Requests_without_credentials_get_401()
    {
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert is not null && server.Host.Pki.Verify(cert) || true });
        var response = await http.GetAsync(server.Host.Url + "/api/v1/namespaces");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var status = KubernetesJson.Deserialize<V1Status>(await response.Content.ReadAsStringAsync());
        Assert.Equal("Unauthorized", status.Reason);
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", server.Host.AdminToken);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(server.Host.Url + "/api/v1/namespaces")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(server.Host.Url + "/api/v1/namespaces")).StatusCode);
    }

    [Fact]
    public async Task A_replace_is_correct_when_another_server_wrote_the_object_since_this_one_did()
    {
        // This server remembers what it last wrote and starts a replace from it; another server (here a write straight
        // to the store) makes that memory stale. The replace must still win over the newest state, never answer
        // from the stale one, and keep resourceVersion preconditions exact.
        using var client = Client();
        var ns = await NamespaceAsync(client, "stale");
        var created = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cm" }, Data = new Dictionary<string, string> { ["v"] = "0" } }, ns);
        var key = "/registry/core/configmaps/" + ns + "/cm";
        async Task<long> WriteBehindAsync(string v)
        {
            var kv = await server.Store.GetAsync(key) ?? throw new InvalidOperationException("no " + key);
            var json = System.Text.Json.Nodes.JsonNode.Parse(kv.Value.Span)!.AsObject();
            json["data"]!["v"] = v;
            var result = await server.Store.UpdateAsync(key, System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()), kv.ModRevision);
            Assert.Equal(Berth.Store.WriteOutcome.Succeeded, result.Outcome);
            return result.Revision;
        }

        // Same content as this server's stale memory (v=0) while the store holds v=1: a real write, not a no-op.
        var behind = await WriteBehindAsync("1");
        var replaced = await client.CoreV1.ReplaceNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cm" }, Data = new Dictionary<string, string> { ["v"] = "0" } }, "cm", ns);
        Assert.Equal("0", replaced.Data["v"]);
        Assert.True(long.Parse(replaced.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture) > behind);
        Assert.Equal("0", (await client.CoreV1.ReadNamespacedConfigMapAsync("cm", ns)).Data["v"]);

        // Different content over a stale memory: the compare-and-swap conflicts and the replace retries from the store.
        await WriteBehindAsync("2");
        replaced = await client.CoreV1.ReplaceNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cm" }, Data = new Dictionary<string, string> { ["v"] = "3" } }, "cm", ns);
        Assert.Equal("3", replaced.Data["v"]);
        Assert.Equal(created.Metadata.Uid, replaced.Metadata.Uid);

        // A resourceVersion the server last wrote, but no longer the store's: 409, whatever the server remembers.
        var remembered = replaced.Metadata.ResourceVersion;
        await WriteBehindAsync("4");
        var stale = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReplaceNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cm", ResourceVersion = remembered }, Data = new Dictionary<string, string> { ["v"] = "5" } }, "cm", ns));
        Assert.Equal(HttpStatusCode.Conflict, stale.Response.StatusCode);
        Assert.Equal("4", (await client.CoreV1.ReadNamespacedConfigMapAsync("cm", ns)).Data["v"]);

        // Deleted behind the server's back: 404, not a write from memory.
        await server.Store.DeleteAsync(key);
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReplaceNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cm" }, Data = new Dictionary<string, string> { ["v"] = "6" } }, "cm", ns));
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }
}
