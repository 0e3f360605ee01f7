namespace Lifeboat.Core; internal static class Placeholder {}
