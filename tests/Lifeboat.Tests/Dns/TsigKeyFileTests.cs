using Lifeboat.Core.Config;
using Lifeboat.Core.Traffic;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Dns;

public sealed class TsigKeyFileTests
{
    [Fact]
    public void ReadsWhatTsigKeygenWrites()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "k.key");
        foreach (var alg in new[] { "hmac-sha256", "hmac-sha512", "hmac-sha1" })
        {
            var (code, output) = Proc.Run("tsig-keygen", ["-a", alg, "lifeboat-" + alg], TimeSpan.FromSeconds(20));
            Assert.True(code == 0, output);
            File.WriteAllText(file, output);
            var key = TsigKeyFile.LoadOne(file, null);
            Assert.Equal("lifeboat-" + alg, key.Name);
            Assert.Equal(alg, key.Algorithm);
            Assert.Equal(alg == "hmac-sha512" ? 64 : alg == "hmac-sha1" ? 20 : 32, key.Secret.Length);
            Assert.Equal(1, key.Where.Line);
        }
    }

    [Fact]
    public void Comments_SeveralKeys_AndChoosingOne()
    {
        const string text = """
            # made by tsig-keygen
            key "a" { algorithm HMAC-SHA256; secret "AAAA"; };  // trailing comment
            /* a block
               comment */
            key b {
                algorithm hmac-sha512;
                secret "AAAA";
            };
            """;
        var keys = TsigKeyFile.Parse("k.key", text);
        Assert.Equal(["a", "b"], keys.Select(k => k.Name));
        Assert.Equal("hmac-sha256", keys[0].Algorithm);
        Assert.Equal(5, keys[1].Where.Line);
        using var dir = new TempDir();
        var file = dir.File("k.key", text);
        Assert.Equal("b", TsigKeyFile.LoadOne(file, "b").Name);
        var e = Assert.Throws<ConfigException>(() => TsigKeyFile.LoadOne(file, null));
        Assert.Contains("holds 2 keys (a, b)", e.Message);
        e = Assert.Throws<ConfigException>(() => TsigKeyFile.LoadOne(file, "c"));
        Assert.Contains("no key named 'c'", e.Message);
    }

    [Theory]
    [InlineData("key \"k\" {\n  algorithm hmac-sha256;\n  secret \"AAAA\"\n};\n", "k.key:4:1: key \"k\".secret: expected ';', found '}'")]
    [InlineData("key \"k\" {\n  algorithm hmac-sha256;\n  secret \"not base64!\";\n};\n", "k.key:3:10: key \"k\".secret: is not valid base64")]
    [InlineData("key \"k\" {\n  algorithm hmac-md5;\n  secret \"AAAA\";\n};\n", "k.key:2:13: key \"k\".algorithm: 'hmac-md5' is not supported")]
    [InlineData("key \"k\" {\n  algorithm hmac-sha256;\n};\n", "k.key:1:5: key \"k\": has no 'secret' statement")]
    [InlineData("key \"k\" {\n  secret \"AAAA\";\n};\n", "k.key:1:5: key \"k\": has no 'algorithm' statement")]
    [InlineData("key \"k\" {\n  algorithm hmac-sha256;\n  secret \"AAAA;\n};\n", "k.key:3:10: (file): unterminated string")]
    [InlineData("key \"k\" {\n  algorithm hmac-sha256;\n  secret \"AAAA\";\n  owner me;\n};\n", "k.key:4:3: key \"k\".owner: unknown statement")]
    [InlineData("key \"k\" {\n  algorithm hmac-sha256;\n  secret \"AAAA\";\n}\n", "k.key:5:1: key \"k\": expected ';' after '}', found the end of the file")]
    [InlineData("options { };\n", "k.key:1:1: (file): expected 'key \"NAME\" { ... };', found 'options'")]
    [InlineData("\n# nothing\n", "k.key:1:1: (file): holds no key")]
    public void Errors_NameFileLineAndColumn(string text, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => TsigKeyFile.Parse("k.key", text));
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void MissingFile_IsAUserError()
    {
        var e = Assert.Throws<UserErrorException>(() => TsigKeyFile.Load("/nonexistent/k.key"));
        Assert.Contains("/nonexistent/k.key", e.Message);
    }
}
