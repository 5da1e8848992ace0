namespace VkDiffusion.Model;

/// <summary>The two model families: autoregressive (causal, next token) and masked diffusion (bidirectional, denoise).</summary>
public enum Objective
{
    Ar,
    Mdm,
}
