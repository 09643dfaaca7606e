namespace Secateur.Onnx;
// TEMPORARY until feat/onnx lands.
public static class OnnxSerializer
{
    public static byte[] ToBytes(Secateur.Graph.ModelGraph g) => throw new NotImplementedException();
    public static Secateur.Graph.ModelGraph FromBytes(byte[] b, string s) => throw new NotImplementedException();
    public static Secateur.Graph.ModelGraph Load(string s) => throw new NotImplementedException();
}
