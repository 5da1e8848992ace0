namespace VkDiffusion.Trainer.Export;

/// <summary>
/// vkdiff (like Hugging Face Llama) rotates element i of a head with element i + D/2 (rotate-half, GPT-NeoX style);
/// llama.cpp's `llama` and `llada` architectures rotate consecutive pairs (2i, 2i+1) by the same angle
/// pos * theta^(-2i/D). Reordering the Q and K rows of each head so that row i goes to 2i and row i + D/2 to 2i + 1 makes
/// llama.cpp rotate the same pairs by the same angles; the scores q·k are unchanged by the common reordering of q and k.
/// </summary>
public static class RotaryLayout
{
    public static float[] ToInterleaved(float[] rows, int heads, int headDim)
    {
        int columns = rows.Length / (heads * headDim), half = headDim / 2;
        var interleaved = new float[rows.Length];
        for (int head = 0; head < heads; head++)
            for (int i = 0; i < half; i++)
                for (int side = 0; side < 2; side++)
                {
                    int source = head * headDim + side * half + i, destination = head * headDim + 2 * i + side;
                    rows.AsSpan(source * columns, columns).CopyTo(interleaved.AsSpan(destination * columns, columns));
                }
        return interleaved;
    }
}
