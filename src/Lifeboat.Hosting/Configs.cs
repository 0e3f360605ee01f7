using Lifeboat.Core.Config;
using Lifeboat.Hosting.Kinds;

namespace Lifeboat.Hosting;

/// <summary>Loads a Lifeboat config with every registered resource kind (<see cref="ResourceKinds.Readers"/>): what
/// every command uses. <see cref="ConfigLoader"/> alone knows only bucket resources.</summary>
public static class Configs
{
    public static LifeboatConfig Load(string file) => ConfigLoader.Load(file, ResourceKinds.Readers);

    public static LifeboatConfig Parse(string file, string text) => ConfigLoader.Parse(file, text, ResourceKinds.Readers);
}
