using System.Text;
using FsCheck.Fluent;
using Lifeboat.Providers.S3;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>Keys of a listing answered with encoding-type=url (S3Http.DecodeListedKey); the servers' own answers are
/// checked in S3StoreConformanceTests (Ceph RGW and moto, both clients).</summary>
public sealed class ListedKeyDecodingTests
{
    /// <summary>Encodes as a server does: every byte outside the unreserved set as %XX, a space as '+' (AWS S3) or %20
    /// (Ceph RGW); <paramref name="keep"/> leaves characters a server may leave as they are ('/', '\'', non-ASCII).</summary>
    private static string Encode(string key, bool plusForSpace, bool keep)
    {
        var sb = new StringBuilder();
        Span<byte> b = stackalloc byte[4];
        foreach (var rune in key.EnumerateRunes())
        {
            if (keep && (rune.Value >= 0x80 || rune.Value is '/' or '\''))
            {
                sb.Append(rune.ToString());
                continue;
            }
            var n = rune.EncodeToUtf8(b);
            for (var i = 0; i < n; i++)
            {
                var c = (char)b[i];
                if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~') sb.Append(c);
                else if (c == ' ' && plusForSpace) sb.Append('+');
                else sb.Append('%').Append(b[i].ToString("X2"));
            }
        }
        return sb.ToString();
    }

    [Theory]
    [InlineData("a%01b", "a\u0001b")]
    [InlineData("e%0D%0Af", "e\r\nf")]
    [InlineData("sp%20ace", "sp ace")]
    [InlineData("sp+ace", "sp ace")]          // AWS S3's space
    [InlineData("plus%2Bx", "plus+x")]        // a literal '+'
    [InlineData("pct%252F", "pct%2F")]        // decoded once, never twice
    [InlineData("emoji%F0%9F%98%80", "emoji\U0001F600")]
    [InlineData("caf\u00e9/it's", "caf\u00e9/it's")] // left unencoded by the server
    [InlineData("plain/key.txt", "plain/key.txt")]
    public void Decodes_AsS3Encodes(string encoded, string key) => Assert.Equal(key, S3Http.DecodeListedKey(encoded));

    [Theory]
    [InlineData("bad%2")]
    [InlineData("bad%zz")]
    [InlineData("bad%C3")]    // not UTF-8 once decoded
    [InlineData("bad%FF%FE")]
    public void Malformed_IsAFormatError_NeverADifferentKey(string encoded) =>
        Assert.Throws<FormatException>(() => S3Http.DecodeListedKey(encoded));

    [Fact]
    public void AnyKey_RoundTrips_WhicheverWayTheServerEncodesIt()
    {
        var chars = Gen.OneOf(
            Gen.Choose(0, 0x7f).Select(i => ((char)i).ToString()),
            Gen.Elements(" ", "+", "%", "%2F", "/", "\r\n", "\u00e9", "\u6f22", "\U0001F600", "\uFFFD"));
        var gen = from key in chars.ArrayOf().Select(a => string.Concat(a))
                  from plus in Gen.Elements(true, false)
                  from keep in Gen.Elements(true, false)
                  select (Key: key, Plus: plus, Keep: keep);
        Fuzz.Check(gen, t =>
        {
            var (key, plus, keep) = t;
            Assert.Equal(key, S3Http.DecodeListedKey(Encode(key, plus, keep)));
        }, runs: 500);
    }
}
