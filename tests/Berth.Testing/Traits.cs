namespace Berth.Testing;

/// <summary>
/// Trait names shared by every test project. Tests that need root, namespaces, cgroups, overlayfs or
/// network namespaces carry <c>[Trait(Traits.Category, Traits.Privileged)]</c>; CI runs them all as root.
/// </summary>
public static class Traits
{
    public const string Category = "Category";
    public const string Privileged = "Privileged";
}
