using Berth.ApiServer.Security;

namespace Berth.ApiServer.Machinery;

/// <summary>Who writes and how: dry-run, the field manager recorded in managedFields, and the operation.</summary>
public sealed record WriteOptions(UserInfo User, bool DryRun = false, string Manager = "berth", string Operation = "Update", string Subresource = "", HashSet<string>? AppliedSet = null)
{
    public static WriteOptions System(string manager) => new(new UserInfo("system:berth", ["system:masters"]), Manager: manager);
}
