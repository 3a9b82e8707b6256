// Stand-in for the Vitis HLS header of the same name, written for dfx's tests:
// a FIFO interface with read and write. For `g++ -fsyntax-only` only.
#ifndef DFX_TEST_STUB_HLS_STREAM_H
#define DFX_TEST_STUB_HLS_STREAM_H

namespace hls {

template <typename T>
class stream {
public:
    void write(const T &value) { last_ = value; }
    T read() { return last_; }
    bool empty() const { return false; }

private:
    T last_{};
};

}  // namespace hls

#endif
