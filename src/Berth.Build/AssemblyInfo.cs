using System.Runtime.CompilerServices;
using System.Runtime.Versioning;

// Builds produce Linux images and run on Linux hosts.
[assembly: SupportedOSPlatform("linux")]
[assembly: InternalsVisibleTo("Berth.Build.Tests")]
