[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Berth.Registry.Tests")]
