using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Networking.Cni;

/// <summary>Runs a plugin executable the way the spec says: CNI_* in the environment, config on stdin, result or error on stdout.</summary>
public static class PluginExec
{
    /// <summary>Finds <paramref name="type"/> in the CNI_PATH directories; code 7 when absent.</summary>
    public static string Find(string type, IReadOnlyList<string> path)
    {
        if (type.Length == 0 || type.Contains('/', StringComparison.Ordinal))
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"plugin type '{type}' is not a plugin name");
        }
        foreach (var dir in path)
        {
            var candidate = Path.Combine(dir, type);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new CniException(CniErrorCode.InvalidNetworkConfig,
            $"plugin '{type}' not found in CNI_PATH ({string.Join(":", path)}): install it there or fix the \"type\"");
    }

    /// <summary>Runs a plugin; returns its parsed stdout (null when empty) or throws its error as <see cref="CniException"/>.</summary>
    public static JsonObject? Run(string executable, IReadOnlyDictionary<string, string> env, byte[] stdin, CancellationToken cancellationToken = default)
    {
        var psi = new ProcessStartInfo(executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        using var process = Process.Start(psi) ?? throw new CniException(CniErrorCode.Generic, $"could not start plugin {executable}");
        var stdoutTask = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderrTask = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            process.StandardInput.BaseStream.Write(stdin);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The plugin exited without reading its config; its exit code and output say why.
        }
        process.WaitForExit();
        var stdout = stdoutTask.GetAwaiter().GetResult();
        var stderr = stderrTask.GetAwaiter().GetResult().Trim();
        var name = Path.GetFileName(executable);
        JsonObject? json = null;
        if (!string.IsNullOrWhiteSpace(stdout))
        {
            try
            {
                json = JsonNode.Parse(stdout) as JsonObject;
            }
            catch (JsonException)
            {
                throw new CniException(CniErrorCode.DecodingFailure, $"plugin {name} printed something that is not JSON: {Trim(stdout)}", stderr.Length > 0 ? stderr : null);
            }
        }
        if (process.ExitCode != 0)
        {
            if (json is not null && json["code"] is JsonNode code)
            {
                throw new CniException(code.GetValue<int>(), $"plugin {name}: {json["msg"]?.GetValue<string>()}", json["details"]?.GetValue<string>());
            }
            throw new CniException(CniErrorCode.Generic, $"plugin {name} exited with {process.ExitCode}: {Trim(stderr.Length > 0 ? stderr : stdout)}");
        }
        return json;
    }

    private static string Trim(string s) => s.Length > 400 ? s[..400] + "..." : s;
}
