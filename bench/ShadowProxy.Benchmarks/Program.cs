using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/ShadowProxy.Benchmarks -- --filter '*'   (add --job short for a quick look)
BenchmarkSwitcher.FromAssembly(typeof(ShadowProxy.Benchmarks.SampleHeads).Assembly).Run(args);
