namespace Lifeboat.Providers.S3; internal static class Placeholder {}
