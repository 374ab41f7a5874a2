using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using Berth.ApiServer.Storage;
using Berth.Store;

namespace Berth.ApiServer.Tests;

/// <summary>Lists copy stored objects out without decoding them: the bytes must say what the decoded object says.</summary>
public sealed class StoredJsonTests
{
    [Theory]
    [InlineData("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n"},"data":{"metadata":"x"}}""")]
    [InlineData("""{"data":{"metadata":{"resourceVersion":"1"}},"kind":"ConfigMap","metadata":{"name":"last"}}""")]
    [InlineData("""{"apiVersion":"v1","metadata":{},"kind":"Namespace"}""")]
    [InlineData("""{ "kind" : "ConfigMap" , "metadata" : { "name" : "spaced" } , "data" : { "k" : "\u00e9\u4e2d<&>" } }""")]
    [InlineData("""{"kind":"ConfigMap","\u006detadata":{"name":"escaped-key"},"list":[{"metadata":1},[2,{"a":null}]]}""")]
    public void A_stored_object_written_out_is_the_decoded_object(string stored)
    {
        var kv = new KeyValue("/registry/core/configmaps/n/a", Encoding.UTF8.GetBytes(stored), 3, 42);
        var buffer = new ArrayBufferWriter<byte>();
        ObjectStore.WriteStored(buffer, kv);
        var written = JsonNode.Parse(buffer.WrittenSpan);
        Assert.True(JsonNode.DeepEquals(ObjectStore.Decode(kv), written), Encoding.UTF8.GetString(buffer.WrittenSpan));
        Assert.Equal("42", written!["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public void A_stored_object_without_metadata_takes_the_general_path()
    {
        var kv = new KeyValue("/registry/core/configmaps/n/a", Encoding.UTF8.GetBytes("""{"kind":"ConfigMap","metadata":"not an object"}"""), 3, 42);
        var odd = new ArrayBufferWriter<byte>();
        ObjectStore.WriteStored(odd, kv);
        Assert.True(JsonNode.DeepEquals(ObjectStore.Decode(kv), JsonNode.Parse(odd.WrittenSpan)), Encoding.UTF8.GetString(odd.WrittenSpan));
        var bare = new KeyValue("/registry/core/configmaps/n/b", Encoding.UTF8.GetBytes("""{"kind":"ConfigMap"}"""), 3, 43);
        var buffer = new ArrayBufferWriter<byte>();
        ObjectStore.WriteStored(buffer, bare);
        Assert.Equal("43", JsonNode.Parse(buffer.WrittenSpan)!["metadata"]!["resourceVersion"]!.GetValue<string>());
    }
}
