using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private ElementwiseLauncher? _elementwise;
    private ElementwiseLauncher Elementwise => _elementwise ??= new ElementwiseLauncher(_accelerator);

    public void Fill(BufferView<float> x, float value) => Elementwise.Fill(x.Device(), value);

    public void Copy(BufferView<float> destination, BufferView<float> source) => Elementwise.Copy(destination.Device(), source.Device());

    public void Accumulate(BufferView<float> destination, BufferView<float> source) => Elementwise.Accumulate(destination.Device(), source.Device());

    public void Scale(BufferView<float> x, float scale) => Elementwise.Scale(x.Device(), scale);

    public void LinearCombination(BufferView<float> destination, float a, BufferView<float> x, float b, BufferView<float> y) =>
        Elementwise.LinearCombination(destination.Device(), a, x.Device(), b, y.Device());

    public void GeluForward(BufferView<float> output, BufferView<float> input, int n) => Elementwise.GeluForward(output.Device(), input.Device(), n);

    public void GeluBackward(BufferView<float> dinput, BufferView<float> input, BufferView<float> doutput, int n) =>
        Elementwise.GeluBackward(dinput.Device(), input.Device(), doutput.Device(), n);

    public void Add(BufferView<float> output, BufferView<float> a, BufferView<float> b, int n) => Elementwise.Add(output.Device(), a.Device(), b.Device(), n);
}
