using Berth.Core;
using Berth.Engine.Api;
using Berth.Oci.Image;

namespace Berth.Engine.Containers;

/// <summary>Docker's rules for merging a create request with the image's config.</summary>
public static class ConfigMerge
{
    public const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// Returns the effective config: Entrypoint/Cmd (an explicit entrypoint drops the image's Cmd), Env (the
    /// request's variables override the image's by name), User, WorkingDir, Labels, StopSignal, Healthcheck.
    /// </summary>
    public static ContainerCreateRequest Merge(ContainerCreateRequest request, ContainerConfig? image)
    {
        image ??= new ContainerConfig();
        var merged = new ContainerCreateRequest
        {
            Hostname = request.Hostname,
            Domainname = request.Domainname,
            User = string.IsNullOrEmpty(request.User) ? image.User ?? "" : request.User,
            AttachStdin = request.AttachStdin,
            AttachStdout = request.AttachStdout,
            AttachStderr = request.AttachStderr,
            Tty = request.Tty,
            OpenStdin = request.OpenStdin,
            StdinOnce = request.StdinOnce,
            Image = request.Image,
            WorkingDir = string.IsNullOrEmpty(request.WorkingDir) ? (string.IsNullOrEmpty(image.WorkingDir) ? "" : image.WorkingDir) : request.WorkingDir,
            StopSignal = string.IsNullOrEmpty(request.StopSignal) ? image.StopSignal : request.StopSignal,
            StopTimeout = request.StopTimeout,
            ExposedPorts = request.ExposedPorts,
            Volumes = request.Volumes,
        };
        if (request.Entrypoint is not null)
        {
            // `--entrypoint ""` arrives as [""]: no entrypoint at all, and the image's Cmd is dropped too.
            merged.Entrypoint = request.Entrypoint.Count == 1 && request.Entrypoint[0].Length == 0 ? [] : [.. request.Entrypoint];
            merged.Cmd = request.Cmd is null ? [] : [.. request.Cmd];
        }
        else
        {
            merged.Entrypoint = image.Entrypoint is null ? [] : [.. image.Entrypoint];
            merged.Cmd = request.Cmd is { Count: > 0 } ? [.. request.Cmd] : image.Cmd is null ? [] : [.. image.Cmd];
        }
        merged.Env = MergeEnv(image.Env, request.Env);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in image.Labels ?? new Dictionary<string, string>())
        {
            labels[k] = v;
        }
        foreach (var (k, v) in request.Labels ?? [])
        {
            labels[k] = v;
        }
        merged.Labels = labels;
        merged.Healthcheck = MergeHealthcheck(request.Healthcheck, image.Healthcheck);
        return merged;
    }

    public static List<string> MergeEnv(IReadOnlyList<string>? image, IReadOnlyList<string>? request)
    {
        var result = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in (image ?? []).Concat(request ?? []))
        {
            var eq = e.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? e : e[..eq];
            if (key.Length == 0)
            {
                throw BerthException.InvalidArgument($"invalid environment variable \"{e}\": the name is empty");
            }
            if (index.TryGetValue(key, out var at))
            {
                result[at] = e;
            }
            else
            {
                index[key] = result.Count;
                result.Add(e);
            }
        }
        return result;
    }

    /// <summary>The request's healthcheck fields override the image's one by one (as dockerd does); ["NONE"] disables it.</summary>
    public static HealthcheckConfig? MergeHealthcheck(HealthcheckConfig? request, HealthConfig? image)
    {
        if (request is null && image is null)
        {
            return null;
        }
        var merged = new HealthcheckConfig
        {
            Test = request?.Test is { Count: > 0 } t ? [.. t] : image?.Test is { Count: > 0 } it ? [.. it] : null,
            Interval = request is { Interval: > 0 } ? request.Interval : image?.Interval ?? 0,
            Timeout = request is { Timeout: > 0 } ? request.Timeout : image?.Timeout ?? 0,
            StartPeriod = request is { StartPeriod: > 0 } ? request.StartPeriod : image?.StartPeriod ?? 0,
            StartInterval = request is { StartInterval: > 0 } ? request.StartInterval : image?.StartInterval ?? 0,
            Retries = request is { Retries: > 0 } ? request.Retries : image?.Retries ?? 0,
        };
        return merged.Test is null || merged.Test[0] == "NONE" ? null : merged;
    }

    /// <summary>The process to run: entrypoint + cmd; NotFound-style error when there is nothing to run.</summary>
    public static List<string> Command(ContainerCreateRequest merged)
    {
        var argv = new List<string>(merged.Entrypoint ?? []);
        argv.AddRange(merged.Cmd ?? []);
        if (argv.Count == 0)
        {
            throw BerthException.InvalidArgument("no command specified: the image has no Entrypoint or Cmd; give a command after the image name");
        }
        return argv;
    }
}
