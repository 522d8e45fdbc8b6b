using System.Security.Cryptography;
using System.Text;

namespace GtaIlgpu.Data;

/// <summary>
/// A SHA-256 over every split's texts and labels in order: a resumed run compares it with the one saved
/// in its checkpoint, so it never continues on data other than what it started on.
/// </summary>
public static class DatasetFingerprint
{
    public static string Of(DatasetSplits data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // Each string is length-prefixed, so no two different datasets hash the same byte sequence.
        void Add(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            hash.AppendData(BitConverter.GetBytes(bytes.Length));
            hash.AppendData(bytes);
        }
        foreach (var (name, split) in new[] { ("train", data.Train), ("validation", data.Validation), ("test", data.Test) })
        {
            Add(name);
            Add(split.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var example in split)
            {
                Add(example.Text);
                Add(example.Label);
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
