namespace VkDiffusion.Trainer.Data;

/// <summary>
/// The validation split cut into non-overlapping windows of L+1 tokens in file order (window k =
/// val[k*(L+1) .. k*(L+1)+L]); the tail that fills no window is left out. The order is fixed so every evaluation
/// scores the same windows.
/// </summary>
public sealed class ValidationWindows(TokenSplit validation, int sequenceLength)
{
    public int SequenceLength { get; } = sequenceLength >= 1 ? sequenceLength : throw new ArgumentOutOfRangeException(nameof(sequenceLength));
    public int WindowLength => SequenceLength + 1;
    public long WindowCount => validation.TokenCount / WindowLength;

    /// <summary>Windows [firstWindow, firstWindow + count), row-major [count, L+1].</summary>
    public void CopyWindows(long firstWindow, int count, Span<uint> destination)
    {
        if (firstWindow < 0 || count < 0 || firstWindow + count > WindowCount)
            throw new ArgumentOutOfRangeException(nameof(firstWindow), $"windows [{firstWindow}, {firstWindow + count}) are outside the {WindowCount} validation windows");
        if (destination.Length != count * WindowLength) throw new ArgumentException($"{count} windows hold {count * WindowLength} tokens, the destination {destination.Length}");
        validation.CopyTokens(firstWindow * WindowLength, destination);
    }
}
