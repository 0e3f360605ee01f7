using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lifeboat.Core.Storage;

/// <summary>JSON without reflection (the release package is compiled ahead of time: reflection-based serialisation
/// is off there, ADR 0008).</summary>
public static class JsonText
{
    /// <summary><paramref name="value"/> as a JSON string literal, quotes included (what <c>JsonSerializer.Serialize(string)</c>
    /// writes), escaped by <paramref name="encoder"/> (default: the serializer's default encoder).</summary>
    public static string Quote(string value, JavaScriptEncoder? encoder = null) =>
        string.Concat("\"", JsonEncodedText.Encode(value, encoder).Value, "\"");
}

/// <summary>Source-generated JSON metadata for Lifeboat.Core's own files (the folder store's metadata sidecars).</summary>
[JsonSerializable(typeof(FileStore.Sidecar))]
internal sealed partial class CoreJson : JsonSerializerContext;
