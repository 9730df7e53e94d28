using System.Runtime.CompilerServices;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>
/// The suite runs with the shadow's own event loop, as the proxy does by default on a box with two or more CPUs, also
/// where it runs on one: so the shadow's copies always cross to another thread here, and the built program's runs
/// (which inherit the environment) do the same.
/// </summary>
internal static class ShadowLoopOn
{
    [ModuleInitializer]
    internal static void TurnOn() => Environment.SetEnvironmentVariable(EventLoops.ShadowLoopVariable, "on");
}
