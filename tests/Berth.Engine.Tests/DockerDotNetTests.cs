using Berth.Testing;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Berth.Engine.Tests;

/// <summary>Docker.DotNet, a second real client; it uses unversioned paths.</summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class DockerDotNetTests(EngineFixture f)
{
    [Fact]
    public async Task Create_start_wait_logs_remove_through_docker_dotnet()
    {
        using var client = new DockerClientConfiguration(new Uri("unix://" + f.Socket)).CreateClient();
        var version = await client.System.GetVersionAsync();
        Assert.Equal("1.47", version.APIVersion);
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = "busybox",
            Cmd = ["sh", "-c", "echo dotnet; exit 7"],
            HostConfig = new HostConfig { NetworkMode = "none" },
            Labels = new Dictionary<string, string> { ["suite"] = "dotnet" },
        });
        var listed = await client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { ["suite=dotnet"] = true } },
        });
        Assert.Contains(listed, c => c.ID == created.ID);
        await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        var wait = await client.Containers.WaitContainerAsync(created.ID);
        Assert.Equal(7, wait.StatusCode);
        var inspect = await client.Containers.InspectContainerAsync(created.ID);
        Assert.Equal("exited", inspect.State.Status);
        Assert.Equal(7, inspect.State.ExitCode);
        await client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters());
        var missing = await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => client.Containers.InspectContainerAsync(created.ID));
        Assert.Contains("No such container", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Malformed_requests_are_400_with_a_message_and_unknown_paths_404()
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(f.Socket), ct);
                return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
            },
        }) { BaseAddress = new Uri("http://berth") };
        var bad = await http.PostAsync("/containers/create", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("\"message\":", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var wrongType = await http.PostAsync("/v1.41/containers/create", new StringContent("{\"Image\":\"busybox\",\"Cmd\":5}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, wrongType.StatusCode);
        var noSuch = await http.GetAsync("/v1.47/containers/nosuch/json");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, noSuch.StatusCode);
        Assert.Equal("No such container: nosuch", System.Text.Json.JsonDocument.Parse(await noSuch.Content.ReadAsStringAsync()).RootElement.GetProperty("message").GetString());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("/nope")).StatusCode);
        var tooNew = await http.GetAsync("/v9.99/info");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, tooNew.StatusCode);
        var ping = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/_ping"));
        Assert.Equal("1.47", ping.Headers.GetValues("API-Version").Single());
        var badFilter = await http.GetAsync("/containers/json?filters=%7Bbad");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badFilter.StatusCode);
    }
}
