namespace Berth.Registry.Auth;

/// <summary>What a client may do with a repository.</summary>
[Flags]
internal enum RegistryAction
{
    None = 0,
    Pull = 1,
    Push = 2,
    Delete = 4,
    All = Pull | Push | Delete,
}

internal static class RegistryActions
{
    public static RegistryAction Parse(string text, string where)
    {
        var result = RegistryAction.None;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            result |= part switch
            {
                "pull" => RegistryAction.Pull,
                "push" => RegistryAction.Push,
                "delete" => RegistryAction.Delete,
                "*" => RegistryAction.All,
                _ => throw Berth.Core.BerthException.InvalidArgument($"{where}: unknown action '{part}'; use pull, push, delete or *"),
            };
        }
        return result;
    }

    /// <summary>Like <see cref="Parse"/> but ignores actions it does not know (client scopes may carry others).</summary>
    public static RegistryAction ParseLenient(string text)
    {
        var result = RegistryAction.None;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            result |= part switch
            {
                "pull" => RegistryAction.Pull,
                "push" => RegistryAction.Push,
                "delete" => RegistryAction.Delete,
                "*" => RegistryAction.All,
                _ => RegistryAction.None,
            };
        }
        return result;
    }

    public static List<string> Names(RegistryAction actions)
    {
        var names = new List<string>();
        if (actions.HasFlag(RegistryAction.Pull))
        {
            names.Add("pull");
        }
        if (actions.HasFlag(RegistryAction.Push))
        {
            names.Add("push");
        }
        if (actions.HasFlag(RegistryAction.Delete))
        {
            names.Add("delete");
        }
        return names;
    }
}
