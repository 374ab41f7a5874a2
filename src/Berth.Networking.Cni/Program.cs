// berth-cni: Berth's CNI plugins (see src/Berth.Networking/README.md).
Console.Error.WriteLine("berth-cni: not supported yet: the CNI plugins are being built (issue 5)");
return 1;
