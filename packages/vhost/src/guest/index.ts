export {
  GUEST_COUNTERS,
  GUEST_DEFAULT_FEATURES,
  GUEST_RING_GPA,
  VirtioNetGuest,
  type GuestVnf,
  type VirtioNetGuestHandle,
  type VirtioNetGuestOptions,
} from "./guest.js";
