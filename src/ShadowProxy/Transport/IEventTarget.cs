namespace ShadowProxy.Transport;

/// <summary>Something registered with an <see cref="EventLoop"/>: told of its descriptor's readiness events.</summary>
internal interface IEventTarget
{
    /// <summary>Set by the loop at registration: the slot and a generation, so a late event for a closed descriptor is not delivered to the slot's next owner.</summary>
    ulong RegistrationToken { get; set; }

    /// <summary>Runs on the loop's thread with the epoll event bits.</summary>
    void OnEvents(uint events);
}
