#include "slot_states.h"

namespace asc {
namespace internal {

int64_t LruUnpinned(DeviceCache* order, const SlotStates& states, uint64_t time) {
  for (int64_t tries = order->size(); tries > 0; --tries) {
    const int64_t slot = order->Victim();
    if (!states.Pinned(slot)) return slot;
    // In use by an open step, so recently used in fact. Slots the calling
    // step pinned are at the MRU end already: only other steps' land here.
    order->Touch(slot, time);
  }
  return -1;
}

}  // namespace internal
}  // namespace asc
