// berth-shim: one per container (see src/Berth.Shim/README.md).
return Berth.Shim.Server.ShimMain.Run(args);
