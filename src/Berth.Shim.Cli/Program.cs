// berth-shim: one per container (see src/Berth.Shim/README.md).
Console.Error.WriteLine("berth-shim: not supported yet: the shim is being built (issue 4)");
return 1;
